"""Typed transactions: types 0-2 round trip with eth-account; 3 and 4 decode so callers can refuse them by name."""

import pytest
from eth_account import Account

from mevauction.errors import InputError
from mevauction.eth import rlp, secp256k1, transactions
from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import BLOB, SET_CODE, decode, refuse_unexecutable

KEY = keccak(b"sender")
SENDER = secp256k1.address_of(KEY)
TO = "0x" + "35" * 20


def _signed_typed(kind: int, fields: list) -> bytes:
    digest = keccak(bytes([kind]) + rlp.encode(fields))
    y, r, s = secp256k1.split(secp256k1.sign(digest, KEY))
    return bytes([kind]) + rlp.encode([*fields, rlp.encode_int(y), rlp.encode_int(r), rlp.encode_int(s)])


def _blob_fields() -> list:
    i = rlp.encode_int
    return [i(1), i(4), i(2), i(30), i(21000), bytes.fromhex(TO[2:]), i(0), b"", [], i(7),
            [b"\x01" + b"\x22" * 31]]


@pytest.mark.parametrize("tx_type", [0, 1, 2])
def test_sign_matches_eth_account(tx_type):
    kwargs = dict(chain_id=1, nonce=3, gas_limit=50_000, to=TO, value=9, data=b"\x01\x02",
                  max_priority_fee=2, max_fee=5 if tx_type == 2 else 2)
    ours = transactions.sign(KEY, tx_type, **kwargs)
    tx = {"chainId": 1, "nonce": 3, "gas": 50_000, "to": TO, "value": 9, "data": b"\x01\x02"}
    if tx_type == 2:
        tx |= {"maxFeePerGas": 5, "maxPriorityFeePerGas": 2}
    else:
        tx |= {"gasPrice": 2} | ({"accessList": []} if tx_type == 1 else {})
    assert ours == bytes(Account.sign_transaction(tx, KEY).raw_transaction)
    assert decode(ours).sender == SENDER


def test_blob_transactions_decode_bare_and_wrapped_with_the_same_hash():
    bare = _signed_typed(BLOB, _blob_fields())
    tx = decode(bare)
    assert (tx.type, tx.sender, tx.max_fee_per_blob_gas, len(tx.blob_versioned_hashes)) == (BLOB, SENDER, 7, 1)
    assert tx.hash == "0x" + keccak(bare).hex()
    inner = rlp.decode(bare[1:])
    wrapped = b"\x03" + rlp.encode([inner, [b"\x00" * 8], [b"\x00" * 48], [b"\x00" * 48]])
    assert decode(wrapped).hash == tx.hash
    with pytest.raises(InputError, match="EIP-4844 blob") as info:
        refuse_unexecutable(tx, "txs[0]")
    assert info.value.field == "txs[0].type"


def test_set_code_transactions_decode_with_their_authorities():
    auth = Account.sign_authorization({"chainId": 1, "address": TO, "nonce": 0}, keccak(b"authority"))
    i = rlp.encode_int
    fields = [i(1), i(0), i(1), i(10), i(60_000), bytes.fromhex(TO[2:]), i(0), b"", [],
              [[i(1), bytes.fromhex(TO[2:]), i(0), i(auth.y_parity), i(auth.r), i(auth.s)]]]
    tx = decode(_signed_typed(SET_CODE, fields))
    assert tx.type == SET_CODE and tx.sender == SENDER
    assert tx.authorizations[0].authority == secp256k1.address_of(keccak(b"authority"))
    with pytest.raises(InputError, match="EIP-7702 set-code"):
        refuse_unexecutable(tx, "txs[0]")


def test_blob_transaction_needs_a_recipient_and_a_blob():
    fields = _blob_fields()
    fields[5] = b""
    with pytest.raises(InputError, match="20-byte address"):
        decode(_signed_typed(BLOB, fields))
    fields = _blob_fields()
    fields[10] = []
    with pytest.raises(InputError, match="at least one blob"):
        decode(_signed_typed(BLOB, fields))
