"""One sign, one recover, one low-s policy — checked against eth-account."""

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import given, settings
from hypothesis import strategies as st

from mevauction.eth import secp256k1
from mevauction.eth.fields import checksum
from mevauction.eth.keccak import keccak
from mevauction.eth.messages import personal_message_hash
from mevauction.eth.secp256k1 import BadSignature, N
from property_settings import examples

keys = st.integers(1, N - 1).map(lambda k: k.to_bytes(32, "big"))


@settings(max_examples=examples(50))
@given(keys, st.binary(min_size=1, max_size=64))
def test_sign_and_recover_agree_with_eth_account(key, message):
    account = Account.from_key(key)
    assert secp256k1.address_of(key) == account.address.lower()
    assert checksum(secp256k1.address_of(key)) == account.address
    theirs = Account.sign_message(encode_defunct(primitive=message), key)
    digest = personal_message_hash(message)
    assert digest == bytes(theirs.message_hash)
    assert secp256k1.sign(digest, key) == bytes(theirs.signature)  # RFC 6979: same bytes
    assert secp256k1.recover(digest, bytes(theirs.signature)) == account.address.lower()


def test_both_recovery_id_spellings_and_no_high_s_twin():
    key = keccak(b"alice")
    digest = keccak(b"message")
    sig = secp256k1.sign(digest, key)
    assert sig[64] in (27, 28)
    as_01 = sig[:64] + bytes([sig[64] - 27])
    assert secp256k1.recover(digest, as_01) == secp256k1.recover(digest, sig) == secp256k1.address_of(key)
    s = int.from_bytes(sig[32:64], "big")
    twin = sig[:32] + (N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with pytest.raises(BadSignature, match="lower half"):
        secp256k1.recover(digest, twin)


@pytest.mark.parametrize("sig, reason", [
    (b"\x00" * 64, "65 bytes"),
    (b"\x01" * 64 + b"\x05", "recovery id"),
    (b"\x00" * 32 + b"\x01" * 32 + b"\x1b", "out of range"),
    (N.to_bytes(32, "big") + b"\x01" * 32 + b"\x1b", "out of range"),
])
def test_bad_signatures_are_one_error_naming_the_field(sig, reason):
    with pytest.raises(BadSignature, match=reason) as info:
        secp256k1.recover(b"\x11" * 32, sig, "params[0].signature")
    assert info.value.field.startswith("params[0].signature")


@pytest.mark.parametrize("secret", [0, N, b"\x00" * 32, "0x" + "00" * 32, "zz" * 32, b"\x01" * 31])
def test_invalid_private_keys_are_refused(secret):
    with pytest.raises(ValueError):
        secp256k1.private_key(secret)


def test_keccak_backends_agree():
    from eth_hash.auto import keccak as reference
    for data in (b"", b"abc", bytes(range(256)) * 5):
        assert keccak(data) == reference(data)
