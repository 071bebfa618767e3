"""The TFHE double auction (``--backend tfhe``): the trader's split, the plaintext twin on
real key holder / evaluator processes, what each party sees, and the missing-venv error."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mevauction.privacy import tls
from mevauction.privacy.mechanisms import clear_double
from mevauction.privacy.tfhe import backend, convert, shares, wire
from mevauction.privacy.twoparty import ot
from mevauction.privacy.twoparty.garble import FixedKeyHash

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
HAVE_FHE = (ROOT / ".venv-fhe" / "bin" / "python").is_file()
needs_fhe = pytest.mark.skipif(not HAVE_FHE, reason="no .venv-fhe (scripts/setup-fhe.sh)")


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", **(env or {})}, timeout=900)


def test_split_is_random_and_recombines():
    rng = random.Random(1)
    inc = [rng.randrange(4) for _ in range(200)]
    a, b = shares.split(inc, 2)
    assert shares.combine(a, b) == inc
    assert shares.check(a, 200, 2) is None and shares.check(b, 200, 2) is None
    bits = [x for row in shares.to_bits(inc, 2) for x in row]
    agree = sum(x == y for x, y in zip(bits, [x for row in a for x in row], strict=True))
    assert 120 < agree < 280  # 400 bits: the key holder's share is independent of the value
    with pytest.raises(ValueError):
        shares.split([4], 2)


def test_check_names_what_is_malformed():
    assert shares.check([[0, 1]], 2, 2) == "expected 2 levels"
    assert shares.check([[0, 2], [1, 1]], 2, 2) == "every level must be 2 bits of 0/1"
    assert shares.check([[0, True], [1, 1]], 2, 2) is not None
    assert shares.check([[0, 1], [1]], 2, 2) is not None


def test_missing_venv_is_one_line_error(tmp_path):
    bids = tmp_path / "bids.json"
    bids.write_text(json.dumps({"format": "mevauction.bids/1", "bids": [
        {"bidder": "b", "side": "buy", "curve": [[5, 1]]}, {"bidder": "s", "side": "sell", "curve": [[3, 1]]}]}))
    proc = cli("sealed", "run", "--backend", "tfhe", "--bids", str(bids), "--mechanism", "double",
               env={"MEVAUCTION_FHE_PYTHON": str(tmp_path / "none" / "python")})
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --backend: tfhe needs the concrete-python venv")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    proc = cli("sealed", "run", "--backend", "tfhe", "--bids", str(bids), "--mechanism", "second")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --mechanism:")


def _frames(path: Path) -> list[tuple[dict, list[bytes]]]:
    out = []
    with path.open("rb") as f:
        while True:
            try:
                out.append(wire.recv(f))
            except EOFError:
                return out


def _instance(rng: random.Random, n: int, levels: int, bits: int) -> tuple[list[str], list[list[int]]]:
    sides = ["buy" if i % 2 == 0 else "sell" for i in range(n)]
    rng.shuffle(sides)
    incs = []
    for s in sides:
        inc = [0] * levels
        lo, hi = (levels // 3, levels) if s == "buy" else (0, 2 * levels // 3)
        for _ in range(rng.randrange(1, 4)):
            inc[rng.randrange(lo, hi)] = rng.randrange(1, 1 << bits)
        incs.append(inc)
    return sides, incs


def _expect(sides, incs, dropped=()):
    zeroed = [[0] * len(inc) if i in dropped else inc for i, inc in enumerate(incs)]
    return clear_double(list(range(len(incs[0]))), sides, zeroed)


def _agree(result, expected):
    assert result.ok, result.reason
    assert result.level == expected.price
    assert result.quantities == expected.quantities


@pytest.mark.slow
@needs_fhe
def test_twin_with_a_malformed_order_and_what_each_party_sees(tmp_path):
    rng = random.Random(16)
    bits, levels = 2, 12
    sides, incs = _instance(rng, 6, levels, bits)
    pairs = [shares.split(inc, bits) for inc in incs]
    bad_k, bad_e = list(pairs[2][0]), list(pairs[2][1])
    bad_e[0] = [2, 0]  # trader 2 sends the evaluator a non-bit: it must trade nothing, the rest unchanged
    pairs[2] = (bad_k, bad_e)
    r = backend.run(sides, incs, bits, record_dir=str(tmp_path), submissions=pairs)
    expected = _expect(sides, incs, dropped={2})
    _agree(r, expected)
    assert set(r.rejected) == {2}
    assert expected.price is not None and expected.quantities  # the instance trades: quantities were decrypted
    assert _expect(sides, incs) != expected or incs[2] == [0] * levels  # the dropped order mattered, or was empty
    value_bits = [[x for row in shares.to_bits(inc, bits) for x in row] for inc in incs]
    for role, seen_index in (("keyholder", 0), ("evaluator", 1)):
        frames = _frames(tmp_path / f"{role}.frames")
        got = {h["trader"]: h["share"] for h, _ in frames if h.get("type") == "share"}
        assert set(got) == set(range(6))
        for i in range(6):
            assert got[i] == pairs[i][seen_index]  # a party receives exactly its share, nothing of the other one
        seen = [x for i in range(6) if i != 2 for row in got[i] for x in row]
        truth = [x for i in range(6) if i != 2 for x in value_bits[i]]
        agree = sum(x == y for x, y in zip(seen, truth, strict=True))
        assert 0.3 * len(truth) < agree < 0.7 * len(truth), (role, agree, len(truth))
        text = b"".join(json.dumps(h).encode() + b"".join(bl) for h, bl in frames)
        for inc in incs:
            assert json.dumps(inc).encode() not in text and json.dumps(inc, separators=(",", ":")).encode() not in text
    k_types = [h["type"] for h, _ in _frames(tmp_path / "keyholder.frames")]
    e_types = [h["type"] for h, _ in _frames(tmp_path / "evaluator.frames")]
    # K: shares from traders; from E the circuit's specs, E's rejections, its OT matrix (which
    # hides E's bits), one comparison result per step of the binary search (each implied by
    # the clearing level), E's share of the supply there and of the quantities — nothing else.
    assert set(k_types) == {"open", "share", "close", "specs", "rejected", "ot", "compared", "supply_share", "shares"}
    assert k_types.count("compared") == len(r.keyholder["opened"]["compare"]) <= 4
    assert k_types.count("ot") == 1
    assert k_types.count("supply_share") == k_types.count("shares") == 1
    # E: shares, evaluation keys (no secret key leaves K), K's rejections and OT corrections,
    # K's encrypted digits per probe, the comparison bits and the requests for its shares.
    assert set(e_types) == {"open", "share", "close", "evaluation_keys", "rejected", "ot_corrections", "probe",
                            "bit", "opened"}
    assert e_types.count("probe") == e_types.count("bit") == len(r.keyholder["opened"]["compare"])


@pytest.mark.slow
@needs_fhe
def test_twin_on_random_instances_including_no_trade():
    rng = random.Random(3)
    sides, incs = _instance(rng, 8, 16, 2)
    _agree(backend.run(sides, incs, 2), _expect(sides, incs))
    # Every ask above every bid: a level clears (demand ≥ supply = 0 at the bottom) but nobody trades.
    sides = ["buy", "sell", "buy", "sell"]
    incs = [[1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1]]
    r = backend.run(sides, incs, 1)
    expected = _expect(sides, incs)
    assert expected.winners == [] and r.trade is False
    _agree(r, expected)
    assert "quantities" not in r.keyholder["opened"]  # supply 0 at the clearing level: no quantity opened
    # Supply above demand at every level (sellers at the bottom, a small buyer): nothing clears,
    # nothing is opened. Uneven sides and 3-bit increments: the width follows the larger side.
    sides, incs = ["sell", "buy", "sell"], [[7, 0, 0, 0, 0], [0, 0, 0, 0, 6], [0, 5, 0, 0, 0]]
    r = backend.run(sides, incs, 3)
    assert _expect(sides, incs).price is None
    assert r.ok and r.level is None and r.quantities == {}
    assert set(r.keyholder["opened"]) == {"level", "compare"} and r.keyholder["opened"]["compare"] == [False, False]


def _ot_pair():
    """A real base OT + IKNP extension between a sender (K) and a receiver (E) with choices b."""
    k, e = ot.ExtSender(), ot.ExtReceiver()
    e.setup(k.setup(e.base.A_bytes))
    return k, e


def test_ot_conversion_gives_additive_shares_of_every_bit_and_of_the_auction_sums():
    rng = random.Random(7)
    sides, incs = _instance(rng, 10, 24, 3)
    pairs = [shares.split(inc, 3) for inc in incs]
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    k_ot, e_ot = _ot_pair()
    u, t = e_ot.extend(b.ravel())
    q = k_ot.extend(u, a.size)
    k_share, y = convert.sender(FixedKeyHash(), q, k_ot.s, a.ravel())
    e_share = convert.receiver(FixedKeyHash(), t, b.ravel(), y)
    assert np.array_equal(k_share + e_share, (a ^ b).ravel().astype(np.uint64))
    buy = np.array([s == "buy" for s in sides])
    dk, sk, ck = convert.sums(k_share.reshape(a.shape), buy)
    de, se, ce = convert.sums(e_share.reshape(b.shape), buy)
    demand = [sum(sum(inc[g:]) for s, inc in zip(sides, incs, strict=True) if s == "buy") for g in range(24)]
    supply = [sum(sum(inc[: g + 1]) for s, inc in zip(sides, incs, strict=True) if s == "sell") for g in range(24)]
    assert [convert.opened(x, z) for x, z in zip(sk, se, strict=True)] == supply
    assert [(convert.opened(x, z) + (1 << 63)) % (1 << 64) - (1 << 63) for x, z in zip(dk, de, strict=True)] == [
        d - s for d, s in zip(demand, supply, strict=True)]
    want = clear_double(list(range(24)), sides, incs)
    level = want.price
    assert level is not None
    for i in want.quantities:
        assert convert.opened(ck[i, level], ce[i, level]) == want.quantities[i]
    # Each share alone is uniform: neither K's corrections nor E's shares follow the bits.
    v = (a ^ b).ravel()
    for mine in (y, e_share, k_share):
        agree = int(np.sum((mine & np.uint64(1)).astype(np.int64) == v))
        assert 0.4 * v.size < agree < 0.6 * v.size


def test_a_wrong_number_of_ot_corrections_is_refused():
    _, e_ot = _ot_pair()
    b = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    _, t = e_ot.extend(b)
    with pytest.raises(ValueError, match="expected 8 OT corrections"):
        convert.receiver(FixedKeyHash(), t, b, np.zeros(7, dtype=np.uint64))


def test_quantity_above_the_bound_is_refused_before_any_party_starts(tmp_path):
    bids = tmp_path / "bids.json"
    bids.write_text(json.dumps({"format": "mevauction.bids/1", "bids": [
        {"bidder": "b", "side": "buy", "curve": [[5, 4]]}, {"bidder": "s", "side": "sell", "curve": [[3, 1]]}]}))
    # Any executable passes the venv check; the bound is checked before it would be started.
    proc = cli("sealed", "run", "--backend", "tfhe", "--bids", str(bids), "--mechanism", "double",
               "--quantity-bits", "2", env={"MEVAUCTION_FHE_PYTHON": "/bin/false"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith("error: bids[0].curve:") and "Traceback" not in proc.stderr


@pytest.mark.slow
@needs_fhe
def test_cli_report_matches_the_committee_format(tmp_path):
    bids = tmp_path / "bids.json"
    bids.write_text(json.dumps({"format": "mevauction.bids/1", "bids": [
        {"bidder": "b1", "side": "buy", "curve": [[30, 1], [20, 2]]},
        {"bidder": "b2", "side": "buy", "curve": [[25, 1]]},
        {"bidder": "s1", "side": "sell", "curve": [[10, 1], [20, 1]]},
        {"bidder": "s2", "side": "sell", "curve": [[25, 2]]}]}))
    out = tmp_path / "report.json"
    proc = cli("sealed", "run", "--backend", "tfhe", "--bids", str(bids), "--mechanism", "double", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    # Grid 10, 20, 25, 30: demand 4, 4, 2, 1 and supply 1, 2, 4, 4 — clears at 20.
    assert (report["format"], report["backend"], report["status"], report["price"]) == (
        "mevauction.sealed/1", "tfhe", "ok", 20)
    assert report["quantities"] == {"b1": 3, "b2": 1, "s1": 2} and report["winners"] == ["b1", "b2", "s1"]
    assert report["elapsed_s"] > 0 and report["evaluation_key_bytes"] > 0 and report["excluded"] == []


# A cheating key holder: K's real steps (``party.KeyHolder``), then one request out of protocol.
_CHEATING_K = """
import sys
from mevauction.privacy.tfhe import party
aux = party.Channel(sys.stdin.buffer, sys.stdout.buffer, None)
k = party.KeyHolder(aux, None)
k.convert()
try:
    if sys.argv[1] == "probe":  # a comparison at a level the binary search does not call for
        k.compare(k.levels // 2 + 1)
    else:  # every trader's quantity at a level that is not the clearing one
        lo, _ = k.search()
        k.open("quantities", lo + 1)
    aux.send({"type": "attack", "got": "an answer"})
except (EOFError, RuntimeError) as exc:
    aux.send({"type": "attack", "got": type(exc).__name__})
"""


@pytest.mark.slow
@needs_fhe
@pytest.mark.parametrize("request_", ["probe", "opening"])
def test_the_evaluator_refuses_a_key_holder_that_leaves_the_search(request_, tmp_path):
    rng = random.Random(11)
    sides, incs = _instance(rng, 6, 12, 2)
    assert _expect(sides, incs).price not in (None, 11)  # level + 1 exists and is not the clearing one
    python = backend.fhe_python()
    evaluator = backend._Party(python, "evaluator", None)
    env = {**__import__("os").environ, "PYTHONPATH": str(SRC), "PYTHONWARNINGS": "ignore"}
    cheat = subprocess.Popen([str(python), "-c", _CHEATING_K, request_], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=env)
    try:
        opening = {"type": "open", "sides": sides, "levels": 12, "bits": 2,
                   "link_tls": str(tls.make_certificates(tmp_path, 2))}
        evaluator.send(opening)
        port = evaluator.recv("listening")["port"]
        wire.send(cheat.stdin, {**opening, "evaluator": ["127.0.0.1", port]})
        assert wire.recv(cheat.stdout)[0]["type"] == "ready"
        evaluator.recv("ready")
        for i, inc in enumerate(incs):
            to_k, to_e = shares.split(inc, 2)
            wire.send(cheat.stdin, {"type": "share", "trader": i, "share": to_k})
            evaluator.send({"type": "share", "trader": i, "share": to_e})
        wire.send(cheat.stdin, {"type": "close"})
        evaluator.send({"type": "close"})
        with pytest.raises(RuntimeError, match="evaluator: RuntimeError: refused an out-of-protocol"):
            evaluator.recv("outcome")
        assert wire.recv(cheat.stdout)[0] == {"type": "attack", "got": "EOFError"}  # E answered nothing
    finally:
        evaluator.stop()
        cheat.kill()
        cheat.wait()


# demand − supply at the edges: a tie (0 must count as "demand ≥ supply"), −1, ± the bound,
# from random additive shares mod 2^64 digitised as the parties do; the plain function for
# three widths, the compiled circuit on real ciphertexts for one.
_EDGES = """
import json, secrets, sys
from mevauction.privacy.tfhe import circuit
out = []
for w, real in ((3, False), (9, True), (16, False)):
    bound = (1 << (w - 1)) - 1
    compiled = circuit.compile_compare(w) if real else None
    if compiled is not None:
        compiled.keygen()
    for diff in (0, -1, 1, bound, -bound, bound // 2, -(bound // 2)):
        k = secrets.randbits(64)
        e = (diff - k) % (1 << 64)
        kd, ed = circuit.digits(k, w), circuit.evaluator_digits(e, w)  # as K and E make them
        got = int(circuit._compare(w)(kd, ed))
        enc = int(compiled.encrypt_run_decrypt(kd, ed)) if compiled is not None else got
        out.append([w, diff, got, enc])
print(json.dumps(out), flush=True)  # flushed: the process may leave by os._exit (concrete)
"""


@pytest.mark.slow
@needs_fhe
def test_the_comparison_is_exact_at_ties_and_at_the_width_bound():
    proc = subprocess.run([str(backend.fhe_python()), "-c", _EDGES], capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(SRC), "PYTHONWARNINGS": "ignore", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(rows) == 21
    for w, diff, plain, encrypted in rows:
        assert plain == encrypted == int(diff >= 0), (w, diff, plain, encrypted)


@pytest.mark.slow
@needs_fhe
def test_a_local_process_that_reaches_the_evaluator_first_neither_poses_as_k_nor_locks_it_out(monkeypatch, tmp_path):
    """The attacker connects to E's link port as soon as E announces it, before K starts:
    one stranger stays silent, one sends plain bytes, one completes TLS with a certificate
    of its own CA. On the old link (E accepted one plain TCP connection and closed the
    listener) the first stranger became "K" and the real K's connect was refused."""
    import socket
    import ssl

    strangers: list[socket.socket] = []
    rogue_ca = tls.make_certificates(tmp_path, 1)  # "MPyC party 0" under another CA
    real_recv = backend._Party.recv

    def recv(self, expect):
        header = real_recv(self, expect)
        if expect == "listening":
            port = header["port"]
            strangers.append(socket.create_connection(("127.0.0.1", port)))
            junk = socket.create_connection(("127.0.0.1", port))
            junk.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4)
            strangers.append(junk)
            ctx = tls.mutual_client_context(str(rogue_ca), 0)
            ctx.verify_mode = ssl.CERT_NONE  # the stranger does not care whom it reaches
            try:
                strangers.append(ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5)))
            except OSError:
                pass  # refused during the handshake: fine, that is the point
        return header

    monkeypatch.setattr(backend._Party, "recv", recv)
    rng = random.Random(5)
    sides, incs = _instance(rng, 4, 8, 1)
    try:
        _agree(backend.run(sides, incs, 1), _expect(sides, incs))
    finally:
        for s in strangers:
            s.close()
    assert len(strangers) >= 2


@pytest.mark.slow
def test_party_init_and_pair_make_a_parties_file_each_identity_its_own(tmp_path):
    """``sealed party init`` keeps a party's keys across runs; ``pair`` checks the two
    entries; ``serve --backend tfhe`` refuses a key the parties file does not publish."""
    k, e = tmp_path / "K.key", tmp_path / "E.key"
    init_k = ("sealed", "party", "init", "--role", "K", "--key-file", str(k), "--control", "127.0.0.1:7001",
              "--intake", "127.0.0.1:7002")
    assert cli(*init_k).returncode == 0
    first = json.loads(Path(f"{k}.public.json").read_text())
    assert cli(*init_k).returncode == 0 and json.loads(Path(f"{k}.public.json").read_text()) == first
    assert first["role"] == "keyholder" and "BEGIN CERTIFICATE" in first["tls_cert"] and first["link"] is None
    init_e = ("sealed", "party", "init", "--role", "E", "--key-file", str(e), "--control", "127.0.0.1:7011",
              "--intake", "127.0.0.1:7012")
    p = cli(*init_e)
    assert p.returncode == 2 and p.stderr.strip() == "error: --link: required for the evaluator"
    assert cli(*init_e, "--link", "127.0.0.1:7013").returncode == 0
    out = tmp_path / "parties.json"
    p = cli("sealed", "party", "pair", f"{e}.public.json", f"{k}.public.json", "--out", str(out))
    assert p.returncode == 2 and p.stderr.strip() == "error: entries: keyholder: expected the keyholder's entry"
    assert cli("sealed", "party", "pair", f"{k}.public.json", f"{e}.public.json", "--out", str(out)).returncode == 0
    doc = json.loads(out.read_text())
    assert doc["format"] == "mevauction.tfhe-parties/1" and doc["keyholder"]["tls_cert"] != doc["evaluator"]["tls_cert"]
    serve = ("sealed", "party", "serve", "--backend", "tfhe", "--parties-file", str(out), "--control-key",
             "0x" + "11" * 20)
    p = cli(*serve, "--role", "E", "--key-file", str(k))
    assert p.returncode == 2 and p.stderr.strip() == "error: --key-file: not the evaluator's key in the parties file"
    p = cli(*serve[:-2], "--role", "K", "--key-file", str(k))
    assert p.returncode == 2 and p.stderr.strip().startswith("error: --control-key: required with --backend tfhe")
