"""The two-party backend: OT and garbling primitives against known answers and their
defining properties, the circuits against the clear mechanisms, and the real pair of
processes (mutual TLS) against the plaintext twin."""

import json
import random
import secrets
import socket
import ssl
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sealed_helpers import assert_replay_matches_relay

from mevauction.privacy import mechanisms as M
from mevauction.privacy import tls
from mevauction.privacy.client import free_ports
from mevauction.privacy.twoparty import binding, execution, ot, party
from mevauction.privacy.twoparty import circuits as C
from mevauction.privacy.twoparty import garble as G
from mevauction.privacy.twoparty.local import LocalPair
from repo_paths import DATA, ROOT, SRC

CLEAR = {"first": lambda r, b: M.clear_first(b), "second": lambda r, b: M.clear_second(b),
         "builder": lambda r, b: M.clear_builder(r, b)}


def test_fixed_key_aes_known_answer():
    # FIPS-197 appendix C.1: AES-128, key 00 01 .. 0f; the garbling key is that key
    block = np.frombuffer(bytes.fromhex("00112233445566778899aabbccddeeff"), dtype=np.uint64).reshape(1, 2)
    out = G.FixedKeyHash().permute(block).tobytes()
    assert out.hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"


def test_hash_is_tweakable_and_batched():
    h = G.FixedKeyHash()
    x = G.random_labels((50,))
    tw = np.arange(50, dtype=np.uint64)
    batched = h(x, tw)
    one_by_one = np.concatenate([h(x[i:i + 1], tw[i:i + 1]) for i in range(50)])
    assert (batched == one_by_one).all()
    assert not (h(x, tw) == h(x, tw + np.uint64(1))).all(axis=1).any()


def test_base_ot_receiver_gets_exactly_its_choice():
    sender = ot.BaseSender()
    choices = [secrets.randbits(1) for _ in range(40)]
    points, keys = ot.base_receive(sender.A_bytes, choices)
    for k, (k0, k1), c in zip(keys, sender.keys(points), choices, strict=True):
        assert k == (k1 if c else k0) and k != (k0 if c else k1)


def test_transpose_matches_naive():
    m = 300
    cols = np.random.randint(0, 256, (128, (m + 127) // 128 * 16), dtype=np.uint8)
    rows = ot.transpose(cols, m)
    bits = np.unpackbits(cols, axis=1, bitorder="little")
    for i in (0, 1, 77, m - 1):
        row = np.packbits(bits[:, i], bitorder="little").view(np.uint64)
        assert (rows[i] == row).all()


@pytest.mark.parametrize("m", [1, 129, 4096])
def test_iknp_extension_and_correlated_labels(m):
    receiver, sender = ot.ExtReceiver(), ot.ExtSender()
    receiver.setup(sender.setup(receiver.base.A_bytes))
    r = np.random.randint(0, 2, m).astype(np.uint8)
    u, t = receiver.extend(r)
    q = sender.extend(u, m)
    assert (q == t ^ sender.s * r[:, None].astype(np.uint64)).all()  # q_i = t_i ⊕ r_i·s
    h, delta = G.FixedKeyHash(), G.random_labels(())
    zero, corrections = ot.correlated_send(h, q, sender.s, delta)
    got = ot.correlated_receive(h, t, r, corrections)
    assert (got == zero ^ delta * r[:, None].astype(np.uint64)).all()
    # the receiver's label for the other choice is not derivable from what it holds
    assert not (got == zero ^ delta * (1 - r)[:, None].astype(np.uint64)).all(axis=1).any()


def _extension(m):
    receiver, sender = ot.ExtReceiver(), ot.ExtSender()
    receiver.setup(sender.setup(receiver.base.A_bytes))
    r = np.random.randint(0, 2, m).astype(np.uint8)
    u, _ = receiver.extend(r)
    return receiver, sender, u


def test_clmul_is_polynomial_multiplication_over_gf2():
    assert ot.clmul(0b11, 0b11) == 0b101  # (x + 1)^2 = x^2 + 1
    a, b, c = (secrets.randbits(128) for _ in range(3))
    assert ot.clmul(a, b ^ c) == ot.clmul(a, b) ^ ot.clmul(a, c) and ot.clmul(a, b) == ot.clmul(b, a)


@pytest.mark.parametrize("m", [1, 1000 + ot.KOS_EXTRA])
def test_kos_check_passes_an_honest_receiver(m):
    receiver, sender, u = _extension(m)
    sender.extend(u, m)
    seed = secrets.token_bytes(16)
    assert sender.check(seed, receiver.answer(seed))
    assert not sender.check(seed, receiver.answer(secrets.token_bytes(16)))  # an answer for another challenge


@pytest.mark.parametrize("columns", ["where s is 1", "64 at random"])
def test_kos_check_catches_a_receiver_using_other_choices_in_some_columns(columns):
    """IKNP alone lets such a receiver learn bits of s (then both labels, then Δ); the check
    fails with certainty in the columns where s_j = 1, and for 64 random columns unless all
    their s_j are 0 (2^-64)."""
    m = 1000 + ot.KOS_EXTRA
    receiver, sender, u = _extension(m)
    nb = len(u) // ot.KAPPA
    cheat = bytearray(u)
    cols = [j for j in range(ot.KAPPA) if sender.s_bits[j]][:1] if columns == "where s is 1" else \
        secrets.SystemRandom().sample(range(ot.KAPPA), 64)
    for j in cols:
        cheat[j * nb + 3] ^= 0x10  # choice bit 28 differs in column j
    sender.extend(bytes(cheat), m)
    seed = secrets.token_bytes(16)
    assert not sender.check(seed, receiver.answer(seed))


def _garbled(mechanism, rows, k=1):
    g = G.Garbler()
    x = g.inputs((len(rows), C.WIDTH))
    outs = C.auction(g, mechanism, x, np.zeros_like(x), k=k)
    tables = np.concatenate(g.tables) if g.tables else np.zeros((0, 2, 2), np.uint64)
    e = G.Evaluator(tables, g.zero)
    got = C.auction(e, mechanism, g.encode(x, C.to_bits(rows)), np.zeros_like(x), k=k)
    return g, outs, got


def test_half_gates_and_truth_table():
    for a in (0, 1):
        for b in (0, 1):
            g = G.Garbler()
            za, zb = g.inputs(()), g.inputs(())
            zc = g.and_(za, zb)
            e = G.Evaluator(g.tables[0], g.zero)
            wc = e.and_(g.encode(za, np.uint8(a)), g.encode(zb, np.uint8(b)))
            assert (wc == (zc ^ g.delta if a & b else zc)).all()


def _outcome(mechanism, bits):
    return execution._decode({"mechanism": mechanism}, bits)


@settings(max_examples=30, deadline=None)
@given(mechanism=st.sampled_from(["first", "second", "builder", "topk"]),
       bids=st.lists(st.one_of(st.integers(0, 5), st.integers(0, (1 << 64) - 1)), min_size=1, max_size=9),
       reserve=st.one_of(st.integers(0, 5), st.integers(0, (1 << 64) - 1)), k=st.integers(1, 4))
def test_garbled_circuit_equals_clear_mechanism(mechanism, bids, reserve, k):
    rows = [reserve, *bids] if mechanism == "builder" else bids
    k = min(k, len(bids))
    g, outs, got = _garbled(mechanism, rows, k)
    decoded = _outcome(mechanism, execution.check_outputs(
        outs, np.concatenate([v.reshape(-1) for v in got.values()]), g.delta))
    clear = M.clear_topk(bids, k) if mechanism == "topk" else CLEAR[mechanism](reserve, bids)
    assert (decoded["winner"], decoded["price"]) == (clear.winner, clear.price)
    if mechanism == "topk":
        assert decoded["winners"] == clear.winners
    plain = G.Plain()
    (pa, pb), _ = binding.split(rows, C.WIDTH)
    twin = C.auction(plain, mechanism, plain.const(C.to_bits([int(s, 16) for s in pa])),
                     plain.const(C.to_bits([int(s, 16) for s in pb])), k=k)
    assert _outcome(mechanism, {k: v[..., 0] for k, v in twin.items()}) == decoded


def test_tampered_table_is_caught_by_the_garbler():
    """A garbled table altered in transit (or by anyone but the garbler) gives the evaluator
    labels off the output wires, and the garbler refuses to decode them."""
    rng = random.Random(5)
    bids = [rng.randrange(1 << 64) for _ in range(6)]
    g = G.Garbler()
    x = g.inputs((6, C.WIDTH))
    outs = C.auction(g, "second", x, np.zeros_like(x))
    last = len(g.tables[-1])  # the final layer: the price mux, 64 gates (each row read w.p. 3/4)
    tables = np.concatenate(g.tables)
    tables[-last:] ^= np.uint64(1 << 40)
    got = C.auction(G.Evaluator(tables, g.zero), "second", g.encode(x, C.to_bits(bids)), np.zeros_like(x))
    flat = np.concatenate([v.reshape(-1) for v in got.values()])
    with pytest.raises(ValueError, match="not on its output wire"):
        execution.check_outputs(outs, flat, g.delta)
    honest = C.auction(G.Evaluator(np.concatenate(g.tables), g.zero), "second", g.encode(x, C.to_bits(bids)),
                       np.zeros_like(x))
    bits = execution.check_outputs(outs, np.concatenate([v.reshape(-1) for v in honest.values()]), g.delta)
    assert C.from_bits(bits["price"]) == M.clear_second(bids).price


def test_shares_hide_the_bid():
    (a1, b1), _ = binding.split([10**18] * 64, C.WIDTH)
    assert len(set(a1)) == 64 and len(set(b1)) == 64  # fresh masks: neither party's share repeats
    assert all(int(x, 16) ^ int(y, 16) == 10**18 for x, y in zip(a1, b1, strict=True))


# -- the real pair -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair():
    with LocalPair() as p:
        yield p


_bid = st.one_of(st.integers(0, 3), st.integers(0, (1 << 64) - 1))


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(bids=st.lists(_bid, min_size=1, max_size=10), reserve=_bid, k=st.integers(1, 4),
       inputs=st.sampled_from(["close", "intake"]), security=st.sampled_from(party.SECURITY))
def test_pair_of_processes_equals_clear_on_random_inputs(pair, bids, reserve, k, inputs, security):
    """The two real processes (mutual TLS, XOR-shared bids) give the plaintext twin's outcome,
    by dual execution (the default) and by one semi-honest execution."""
    for mechanism in ("first", "second", "builder"):
        r = pair.run(mechanism, bids, reserve, inputs=inputs, security=security)
        clear = CLEAR[mechanism](reserve, bids)
        assert r.ok, r.reason
        assert (r.winner, r.price) == (clear.winner, clear.price)
    k = min(k, len(bids))
    r = pair.run("topk", bids, k=k, inputs=inputs, security=security)
    clear = M.clear_topk(bids, k)
    assert r.ok and (sorted(r.winners), r.price) == (clear.winners, clear.price)


@pytest.mark.slow
def test_party_refuses_a_stranger_with_its_own_ca(tmp_path):
    """A client with a certificate of another CA (same names) is refused in the handshake;
    the pinned auctioneer is served afterwards."""
    real, stranger = tmp_path / "real", tmp_path / "stranger"
    tls.make_certificates(real, 3)
    tls.make_certificates(stranger, 3)
    (port,) = free_ports(1)
    proc = subprocess.Popen([sys.executable, "-m", "mevauction.privacy.twoparty.party", "garbler", "--tls-dir",
                             str(real), "--port", str(port), "--peer", "127.0.0.1:1"], env={"PYTHONPATH": str(SRC)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the stranger trusts anyone: only the party checks
        ctx.load_cert_chain(stranger / ".config" / "party_2.crt", stranger / ".config" / "party_2.key")
        for _ in range(200):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        with pytest.raises((ssl.SSLError, ConnectionError)):  # refused in the handshake, not a timeout
            chan = party.Channel(ctx.wrap_socket(raw))
            chan.send_json({"op": "job", "mechanism": "second", "n": 1, "shares": ["0"]})
            chan.recv()
        boss = party.connect(str(real), party.AUCTIONEER, "127.0.0.1", port, expect=party.GARBLER)
        boss.send_json({"op": "shutdown"})
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def cli(*args):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}, timeout=120)


@pytest.mark.slow
def test_cli_run_and_relay_replay_with_2pc(tmp_path):
    bids = tmp_path / "bids.json"
    bids.write_text(json.dumps({"format": "mevauction.bids/1", "bids": [
        {"bidder": f"b{i}", "amount": str(a)} for i, a in enumerate([120, 300, 250, 299, 7])]}))
    out = tmp_path / "report.json"
    proc = cli("sealed", "run", "--backend", "2pc", "--bids", str(bids), "--mechanism", "second", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert (report["backend"], report["parties"], report["winner"], report["price"]) == ("2pc", 2, "b1", 299)
    proc = cli("sealed", "run", "--backend", "2pc", "--bids", str(bids), "--mechanism", "topk", "--k", "2",
               "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert (sorted(report["winners"]), report["price"]) == (["b1", "b3"], 250)
    relay = DATA / "relay" / "slot6214255_builder_blocks_received.json"
    proc = cli("sealed", "replay", str(relay), "--backend", "2pc", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert_replay_matches_relay(report, relay)


@pytest.mark.slow  # starts the pair's processes (twice)
def test_a_port_taken_before_a_party_binds_it_is_retried_on_new_ones():
    """Ports are chosen free, then bound by the party processes a moment later; another
    process can take one in between (this happened under CI's parallel tests: the service
    then failed to start). The pair starts again on new ports instead."""
    p = LocalPair(timeout=20)
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(("127.0.0.1", p.ports[0]))  # the garbler's port, as another process would
    taken.listen()
    try:
        with p:
            assert p.ports[0] != taken.getsockname()[1]  # it moved
            r = p.run("second", [5, 9, 7], 0)
            assert (r.winner, r.price) == (1, 7)
    finally:
        taken.close()
