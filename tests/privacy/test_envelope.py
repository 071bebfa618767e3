"""Envelopes to a committee server's key (``privacy.envelope``) and signed control requests
(``privacy.messages``): only the right key and context open an envelope, any changed byte
is refused, and a control request verifies only for its signer and unchanged."""

import stat

import pytest

from mevauction.privacy import envelope, messages


def test_an_envelope_opens_only_with_its_key_and_context():
    key, other = messages.new_key(), messages.new_key()
    sealed = envelope.encrypt(envelope.public_key(key), b"shares", b"digest|0")
    assert envelope.decrypt(key, sealed, b"digest|0") == b"shares"
    for k, ctx in ((other, b"digest|0"), (key, b"digest|1")):
        with pytest.raises(envelope.EnvelopeError):
            envelope.decrypt(k, sealed, ctx)
    for i in (2, 70, 90, len(sealed) - 1):  # ephemeral key, nonce, body, tag
        changed = sealed[:i] + ("0" if sealed[i] != "0" else "1") + sealed[i + 1:]
        with pytest.raises(envelope.EnvelopeError):
            envelope.decrypt(key, changed, b"digest|0")
    for junk in ("0x", "0xzz", 5, "0x" + "00" * 70):
        with pytest.raises(envelope.EnvelopeError):
            envelope.decrypt(key, junk, b"digest|0")
    assert envelope.encrypt(envelope.public_key(key), b"shares", b"digest|0") != sealed  # fresh each time


def test_a_member_key_file_is_private_and_kept(tmp_path):
    path = tmp_path / "keys" / "member-0.key"
    key = envelope.load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert envelope.load_or_create_key(path) == key
    assert (tmp_path / "keys" / "member-0.key.pub").read_text().strip() == envelope.public_key(key)


def test_a_control_request_verifies_only_unchanged_and_for_its_signer():
    key = messages.new_key()
    signed = messages.sign_control({"op": "close", "auction": "a1"}, key)
    signer, nonce, time_ms = messages.control_signer(signed)
    assert signer == messages.address(key) and nonce == signed["auth"]["nonce"] and time_ms > 0
    assert messages.control_signer({**signed, "auction": "a2"})[0] != messages.address(key)
    assert messages.control_signer({"op": "close", "auction": "a1"})[0] is None
    assert messages.control_signer({**signed, "auth": {**signed["auth"], "time": True}})[0] is None
