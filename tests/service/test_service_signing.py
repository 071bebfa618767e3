"""Flashbots request signatures and signed-transaction decoding against eth-account."""

import json

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from mevauction.client import Signer, signed_transfer
from mevauction.errors import InputError
from mevauction.eth.messages import verify_flashbots_header as verify_flashbots_signature
from mevauction.eth.secp256k1 import N as SECP256K1_N
from mevauction.eth.transactions import decode as decode_signed_tx

TO = to_checksum_address("0x" + "ab" * 20)
BODY = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle", "params": []}).encode()


def eth_account_header(account, body: bytes, prefixed: bool) -> str:
    text = ("0x" if prefixed else "") + keccak(body).hex()
    signature = Account.sign_message(encode_defunct(text=text), account.key).signature
    return f"{account.address}:0x{bytes(signature).hex()}"


@pytest.mark.parametrize("prefixed", [True, False])
def test_eth_account_signatures_verify(prefixed):
    account = Account.create()
    assert verify_flashbots_signature(BODY, eth_account_header(account, BODY, prefixed)) == account.address.lower()


def test_sdk_header_verifies_and_binds_the_body():
    signer = Signer.random()
    header = signer.headers(BODY)["X-Flashbots-Signature"]
    assert verify_flashbots_signature(BODY, header) == signer.address
    with pytest.raises(InputError, match="does not match"):
        verify_flashbots_signature(BODY + b" ", header)
    other = Signer.random()
    with pytest.raises(InputError, match="does not match"):
        verify_flashbots_signature(BODY, other.address + ":" + header.split(":")[1])


@pytest.mark.parametrize("header,needle", [
    (None, "missing header"), ("0x12", "<address>:<signature>"), ("0xzz:0x00", "hex"),
    ("0x" + "11" * 20 + ":0x" + "00" * 64, "65 bytes"),
])
def test_bad_headers_name_the_header(header, needle):
    with pytest.raises(InputError) as info:
        verify_flashbots_signature(BODY, header)
    assert info.value.field.startswith("X-Flashbots-Signature") and needle in str(info.value)


def test_high_s_twin_is_rejected():
    account = Account.create()
    signed = Account.sign_message(encode_defunct(text="0x" + keccak(BODY).hex()), account.key)
    s_high = SECP256K1_N - signed.s
    twin = signed.r.to_bytes(32, "big") + s_high.to_bytes(32, "big") + bytes([55 - signed.v])
    with pytest.raises(InputError, match="lower half"):
        verify_flashbots_signature(BODY, f"{account.address}:0x{twin.hex()}")


@pytest.mark.parametrize("tx", [
    {"nonce": 7, "gasPrice": 3, "gas": 21000, "to": TO, "value": 9, "data": b""},
    {"nonce": 7, "gasPrice": 3, "gas": 21000, "to": TO, "value": 9, "data": b"", "chainId": 5},
    {"type": 1, "nonce": 7, "gasPrice": 3, "gas": 50000, "to": TO, "value": 9, "data": b"\x01",
     "chainId": 1, "accessList": []},
    {"type": 2, "nonce": 7, "maxFeePerGas": 10, "maxPriorityFeePerGas": 3, "gas": 21000, "to": TO,
     "value": 9, "data": b"", "chainId": 1},
])
def test_decoded_transactions_match_eth_account(tx):
    account = Account.create()
    signed = account.sign_transaction(tx)
    raw = bytes(getattr(signed, "raw_transaction", None) or signed.rawTransaction)
    decoded = decode_signed_tx(raw)
    assert decoded.sender == account.address.lower()
    assert decoded.hash == "0x" + bytes(signed.hash).hex()
    assert (decoded.nonce, decoded.tip_per_gas, decoded.value) == (7, 3, 9)


def test_sdk_transactions_decode_to_their_signer():
    signer = Signer.random()
    decoded = decode_signed_tx(bytes.fromhex(signed_transfer(signer.private_key, 3, "0x" + "22" * 20, tip=5)[2:]))
    assert decoded.sender == signer.address and decoded.to == "0x" + "22" * 20 and decoded.tip_per_gas == 5


@pytest.mark.parametrize(
    "raw,needle",
    [
        (b"", "empty"),
        (b"\x05\xc0", "unknown transaction type"),
        (b"\x02\xc3\x01\x02\x03", "12 fields"),
        (b"\xf8", "RLP"),
    ],
)
def test_malformed_transactions_are_input_errors(raw, needle):
    with pytest.raises(InputError, match=needle):
        decode_signed_tx(raw, "txs[0]")
