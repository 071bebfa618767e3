"""An algorithm seals its own bid inside the jail (``mevseal``); the host never holds it.

The guest's sealing (pure-Python Keccak and secp256k1 ECDH, HKDF, the system Python's
AES-GCM) must be byte-compatible with ``mevauction.privacy``: the committee opens its
envelopes with ``envelope.decrypt``, checks the share hashes with ``messages.share_hash``
and the shares reconstruct the bid. In a real jail, the host's whole view of the
protocol (every line both ways) must not contain the amount in any form, a plaintext
bid in a sealed slot is refused unread, and bytes that are no wasm module are refused
in their jail naming why (wasm modules in a sealed slot: test_sealed_wasm.py).
"""

from __future__ import annotations

import json
import os
import sys

import coincurve
import pytest

from mevauction.eth.keccak import keccak
from mevauction.intake.scenario import load_scenario
from mevauction.sandbox import protocol
from mevauction.sandbox.jail import Limits, Program, jail_problem, keccak_library
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import run_algorithms
from repo_paths import ROOT

privacy = pytest.importorskip("mevauction.privacy.builder_auction")
from mevauction.privacy import envelope, field, messages  # noqa: E402

GUEST = ROOT / "src" / "mevauction" / "sandbox" / "guest"
AMOUNT = 4_727_019_388_164_250_913  # the algorithm's chosen bid: never seen by the host
AUCTION = "slot-7-0123456789abcdef"


def guest_mevseal():
    sys.path.insert(0, str(GUEST))
    try:
        import mevseal
    finally:
        sys.path.remove(str(GUEST))
    return mevseal


def committee(n: int = 3) -> tuple[list[bytes], dict]:
    keys = [coincurve.PrivateKey().secret for _ in range(n)]
    label_key = messages.new_key()
    context = {"auction": AUCTION, "label": messages.address(label_key),
               "members": [envelope.public_key(k) for k in keys], "threshold": field.threshold_for(n), "bits": 128,
               "modulus": field.modulus_for(128)}
    return keys, context


def opened(keys: list[bytes], context: dict, out: dict) -> int:
    """What the committee does with the jail's output: open, check hashes, reconstruct."""
    label = context["label"]
    header = messages.BidHeader(AUCTION, label, label, "builder", out["commitment"], tuple(out["share_hashes"]))
    per_server = []
    for j, key in enumerate(keys):
        msg = json.loads(envelope.decrypt(key, out["ciphertexts"][j], header.digest() + bytes([j])))
        shares = [int(v, 16) for v in msg["shares"]]
        assert messages.share_hash(AUCTION, label, j, shares, bytes.fromhex(msg["nonce"][2:])) == out["share_hashes"][j]
        per_server.append(shares)
    p = context["modulus"]
    bits = [field.interpolate([(j + 1, per_server[j][i]) for j in range(len(keys))], p=p) for i in range(128)]
    assert all(b in (0, 1) for b in bits)
    assert field.interpolate([(j + 1, per_server[j][129]) for j in range(len(keys))], p=p) == 0  # the 0 mask
    return sum(b << i for i, b in enumerate(bits))


def test_guest_keccak_matches_the_projects():
    mevseal = guest_mevseal()
    for n in (0, 1, 135, 136, 137, 271, 272, 1000, 4300):
        data = os.urandom(n)
        assert mevseal.keccak256(data) == keccak(data), n


LENGTHS = (0, 1, 31, 32, 135, 136, 137, 271, 272, 273, 1000, 4160, 4300, 20000)  # empty, rate edges, multi-block


def sample(n: int) -> bytes:
    return bytes((i * 7 + n) % 256 for i in range(n))


@pytest.fixture
def reloading_keccak():
    """mevseal, its loaded-once Keccak library forgotten before and after the test."""
    mevseal = guest_mevseal()
    mevseal._keccak_lib.cache_clear()
    yield mevseal
    mevseal._keccak_lib.cache_clear()


def test_guest_keccak_through_the_bound_library_matches_the_projects(monkeypatch, reloading_keccak):
    mevseal = reloading_keccak
    where = keccak_library()
    if where is None:
        pytest.skip("pycryptodome's compiled keccak is not installed")
    monkeypatch.setattr(mevseal, "KECCAK_LIB", where)
    assert mevseal._keccak_lib() is not None  # the compiled one, not the fallback
    for n in LENGTHS:
        for data in (sample(n), os.urandom(n)):
            assert mevseal.keccak256(data) == keccak(data) == mevseal._keccak256_py(data), n
    assert mevseal.keccak256(bytearray(b"abc")) == keccak(b"abc")


def test_guest_keccak_falls_back_to_pure_python_without_the_library(monkeypatch, reloading_keccak):
    mevseal = reloading_keccak
    for stand_in in ("/nonexistent/_keccak.so", "libc.so.6"):  # absent; a library without keccak_init
        monkeypatch.setattr(mevseal, "KECCAK_LIB", stand_in)
        mevseal._keccak_lib.cache_clear()
        assert mevseal._keccak_lib() is None, stand_in
        assert mevseal.keccak256(sample(300)) == keccak(sample(300))


def test_guest_envelopes_open_with_envelope_decrypt_and_reconstruct_the_bid():
    mevseal = guest_mevseal()
    keys, context = committee()
    assert opened(keys, context, mevseal.seal(context, AMOUNT)) == AMOUNT
    sealed = mevseal.encrypt(context["members"][0], b"payload", b"ctx")
    assert envelope.decrypt(keys[0], sealed, b"ctx") == b"payload"
    with pytest.raises(envelope.EnvelopeError):  # bound to its context and to its member
        envelope.decrypt(keys[0], sealed, b"other")
    with pytest.raises(envelope.EnvelopeError):
        envelope.decrypt(keys[1], sealed, b"ctx")


def record_host_view(monkeypatch) -> list[bytes]:
    """The host's whole view of the protocol, as it happens: the slot message, every
    request line and every reply."""
    seen: list[bytes] = []
    handle = protocol.Session.handle

    def recording(self, line):
        seen.append(line)
        reply, sub = handle(self, line)
        seen.append(json.dumps(reply).encode())
        return reply, sub
    monkeypatch.setattr(protocol.Session, "handle", recording)
    real_message = protocol.slot_message
    monkeypatch.setattr("mevauction.sandbox.runner.slot_message",
                        lambda *a, **k: seen.append(m := real_message(*a, **k)) or m)
    return seen


def test_guest_aes_gcm_through_libcrypto_matches_cryptography():
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    mevseal = guest_mevseal()
    assert mevseal._libcrypto() is not None  # the system's libcrypto, not the fallback
    for n in (0, 1, 15, 16, 17, 255, 5000):
        key, nonce, data, aad = os.urandom(32), os.urandom(12), os.urandom(n), os.urandom(n % 41)
        assert mevseal.aes_gcm(key, nonce, data, aad) == AESGCM(key).encrypt(nonce, data, aad), n


BIDDER = f"""
import mevalgo
def build(slot, sim):
    assert slot.sealed is not None
    ids = [o.id for o in slot.orders]
    outs, value = sim.simulate(ids)
    return [o.id for o in outs if o.success], {AMOUNT}
mevalgo.run(build)
"""

# A plaintext bid (its own amount) in a sealed slot: refused, dropped, never kept.
PLAIN = f"""
import json, sys
json.loads(sys.stdin.readline())
print(json.dumps({{"op": "submit", "sequence": [], "bid": "{AMOUNT + 1}"}}), flush=True)
"""


@pytest.mark.slow  # jailed processes
@pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}")
def test_in_the_jail_the_host_sees_no_amount(monkeypatch):
    world = load_scenario(ROOT / "examples" / "table1.json").world
    ids = list(world.orders)
    keys, context = committee()
    seen = record_host_view(monkeypatch)
    taken: dict[str, dict] = {}

    def sealing(name):
        return Sealing(context, lambda out: taken.setdefault(name, out) and None)
    programs = [("sealer", Program("python", BIDDER.encode())), ("plain", Program("python", PLAIN.encode())),
                ("module", Program("wasm", b"\0asm"))]
    runs = run_algorithms(world, programs, ids, Limits(budget_ms=3000), {n: sealing(n) for n, _ in programs})
    print({n: (r.reason, r.wall_ms) for n, r in runs.items()})
    assert runs["sealer"].submission is not None and runs["sealer"].submission.bid is None, runs["sealer"]
    assert opened(keys, context, taken["sealer"]) == AMOUNT
    assert runs["plain"].reason == "protocol violation" and "plain" not in taken
    assert runs["module"].reason == "not a valid wasm module" and "module" not in taken, runs["module"]
    view = b"\n".join(seen) + json.dumps(taken).encode() + repr(runs).encode()
    for form in (str(AMOUNT), f"{AMOUNT:x}", f"{AMOUNT:#x}"):
        assert form.encode() not in view, form


# In the jail: a sealed run hashes with the bound library and gets the project's digests;
# a plain run has no /keccak at all (the bind is only where a bid is sealed).
KECCAK_CHECK = """
import os, mevseal, mevalgo
EXPECTED = {expected!r}
def build(slot, sim):
    if slot.sealed is None:
        assert not os.path.exists("/keccak"), "a plain run sees /keccak"
        return [], 1
    assert mevseal._keccak_lib() is not None, "no compiled keccak in the sealed jail"
    for n, digest in EXPECTED.items():
        data = bytes((i * 7 + n) % 256 for i in range(n))
        assert mevseal.keccak256(data).hex() == digest, n
    return [], {amount}
mevalgo.run(build)
"""


@pytest.mark.slow  # jailed processes
@pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}")
@pytest.mark.skipif(keccak_library() is None, reason="pycryptodome's compiled keccak is not installed")
def test_in_the_jail_the_bound_keccak_matches_and_the_envelope_opens():
    world = load_scenario(ROOT / "examples" / "table1.json").world
    keys, context = committee()
    taken: dict[str, dict] = {}
    code = KECCAK_CHECK.format(expected={n: keccak(sample(n)).hex() for n in LENGTHS}, amount=AMOUNT).encode()
    programs = [("sealed", Program("python", code)), ("plain", Program("python", code))]
    runs = run_algorithms(world, programs, list(world.orders), Limits(budget_ms=3000),
                          {"sealed": Sealing(context, lambda out: taken.setdefault("sealed", out) and None)})
    print({n: (r.reason, r.wall_ms) for n, r in runs.items()})
    assert runs["plain"].submission is not None and runs["plain"].submission.bid == 1, runs["plain"]
    assert runs["sealed"].submission is not None and runs["sealed"].submission.bid is None, runs["sealed"]
    assert opened(keys, context, taken["sealed"]) == AMOUNT
