"""Signed transaction decoding, against eth-account as an independent encoder."""

import pytest
import rlp
from eth_account import Account

from conftest import signed, user_key
from mevauction.errors import InputError
from mevauction.eth.secp256k1 import N as SECP256K1_N
from mevauction.eth.transactions import decode
from mevauction.worlds.evm.world import decode_once, from_scenario

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
TO = "0x" + "35" * 20


@pytest.mark.parametrize("fields", [
    {"gasPrice": 20 * 10**9},  # legacy, EIP-155
    {"gasPrice": 20 * 10**9, "accessList": [{"address": TO, "storageKeys": ["0x" + "00" * 31 + "03"]}]},
    {"maxFeePerGas": 30 * 10**9, "maxPriorityFeePerGas": 2 * 10**9,
     "accessList": [{"address": TO, "storageKeys": []}]},
])
def test_decode_matches_eth_account(fields):
    tx = {"chainId": 1, "nonce": 5, "gas": 60_000, "to": TO, "value": 12345, "data": "0xdeadbeef", **fields}
    signed = Account.sign_transaction(tx, KEY)
    raw = bytes(signed.raw_transaction)
    decoded = decode(raw)
    assert decoded.sender == Account.from_key(KEY).address.lower()
    assert decoded.hash == "0x" + bytes(signed.hash).hex()
    assert (decoded.nonce, decoded.gas_limit, decoded.value, decoded.data) == (5, 60_000, 12345, b"\xde\xad\xbe\xef")
    assert decoded.chain_id == 1
    if "maxFeePerGas" in fields:
        assert (decoded.type, decoded.max_fee, decoded.max_priority_fee) == (2, 30 * 10**9, 2 * 10**9)
    else:
        assert decoded.max_fee == decoded.max_priority_fee == 20 * 10**9
        assert decoded.type == (1 if "accessList" in fields else 0)


def _legacy_with(**change) -> bytes:
    tx = {"chainId": 1, "nonce": 0, "gas": 21_000, "to": TO, "value": 1, "gasPrice": 10**9}
    items = rlp.decode(bytes(Account.sign_transaction(tx, KEY).raw_transaction))
    for index, value in change.items():
        items[int(index[1:])] = value
    return rlp.encode(items)


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty"),
    (b"\x05\xc0", "unknown transaction type"),
    (b"\x02\xff\x00", "not valid RLP"),
    (rlp.encode([b"\x01", b"\x02"]), "RLP list of 9 fields"),
    (_legacy_with(i8=(SECP256K1_N - 1).to_bytes(32, "big")), "lower half"),
    (_legacy_with(i7=b""), "out of range"),
    (_legacy_with(i6=b"\x1d"), "legacy v must be"),
    (_legacy_with(i0=b"\x00"), "leading zero"),
])
def test_malformed_transactions_rejected_with_reason(raw, reason):
    with pytest.raises(InputError, match=reason):
        decode(raw)


def test_tampered_payload_recovers_another_sender():
    good = decode(_legacy_with())
    tampered = decode(_legacy_with(i4=b"\x02"))  # value changed after signing
    assert tampered.sender != good.sender


def test_scenario_names_the_bad_transaction():
    doc = {"world": {"kind": "evm"}, "orders": [{"id": "o1", "raw_txs": ["0x02c0"]}]}
    with pytest.raises(InputError) as err:
        from_scenario(doc)
    assert err.value.field == "orders[0].raw_txs[0]" and "rejected" in err.value.message
    doc["orders"][0]["raw_txs"] = ["0xzz"]
    with pytest.raises(InputError, match="not valid hex"):
        from_scenario(doc)


def test_decode_once_is_decode_and_refusals_still_name_their_field():
    """The fork path's decode cache returns what ``decode`` returns; a refused raw tx is
    refused again every time, with the caller's field name (nothing wrong is remembered)."""
    raw = bytes.fromhex(signed(user_key(1), "0x" + "22" * 20, value=5).removeprefix("0x"))
    assert decode_once(raw, "a") == decode(raw) and decode_once(raw, "b") is decode_once(raw, "c")
    broken = raw[:-3]
    for where in ("txs[0]", "txs[1]"):
        with pytest.raises(InputError) as exc:
            decode_once(broken, where)
        assert exc.value.field == where
