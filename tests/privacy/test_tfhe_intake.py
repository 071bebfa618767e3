"""Traders seal their own curves for the TFHE double auction (``TfheAuction`` +
``trader.submit_curve``): against real key holder / evaluator processes, the auctioneer
holds no share (the piped ``run`` does), each party's shares alone are uniform, the outcome
is the plaintext twin's, and late, duplicate, replayed, squatted and malformed orders are
refused in one line naming the field."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mevauction.privacy import messages
from mevauction.privacy.mechanisms import clear_double
from mevauction.privacy.tfhe import backend, shares, trader, wire
from mevauction.privacy.twoparty.submit import send
from tfhe_helpers import orders

ROOT = Path(__file__).resolve().parents[2]
needs_fhe = pytest.mark.skipif(not (ROOT / ".venv-fhe" / "bin" / "python").is_file(),
                               reason="no .venv-fhe (scripts/setup-fhe.sh)")
BITS, LEVELS = 2, 10


def _orders(rng: random.Random, n: int) -> list[tuple[str, list[int]]]:
    return orders(rng, n, LEVELS, BITS)


def _holds(traffic: list[bytes], share_bits: list[list[int]]) -> bool:
    """Whether the bytes carry this share, as bits per level or packed, in any JSON spacing."""
    text = b"".join(traffic)
    packed = shares.pack(share_bits)
    return any(json.dumps(v, separators=sep).encode() in text
               for v in (share_bits, packed) for sep in ((", ", ": "), (",", ":")))


def _frames(path: Path) -> list[dict]:
    out = []
    with path.open("rb") as f:
        while True:
            try:
                out.append(wire.recv(f)[0])
            except EOFError:
                return out


@pytest.mark.slow
@needs_fhe
def test_the_piped_run_puts_both_shares_through_the_auctioneer():
    """The comparison for the test below: ``run`` splits each curve, so its traffic holds both shares."""
    rng = random.Random(5)
    orders = _orders(rng, 4)
    pairs = [shares.split(inc, BITS) for _, inc in orders]
    traffic: list[bytes] = []
    r = backend.run([s for s, _ in orders], [inc for _, inc in orders], BITS, submissions=pairs, traffic=traffic)
    assert r.ok, r.reason
    assert all(_holds(traffic, k) and _holds(traffic, e) for k, e in pairs)


@pytest.mark.slow
@needs_fhe
def test_traders_seal_their_own_curves(tmp_path):
    rng = random.Random(16)
    orders = _orders(rng, 6)
    keys = [messages.new_key() for _ in orders]
    alice, mallory = keys[0], messages.new_key()
    registered = {"alice": messages.address(alice)}
    labels = ["alice"] + [messages.address(k) for k in keys[1:]]
    with backend.TfheAuction(LEVELS, BITS, max_bids=8, registered=registered, record_dir=str(tmp_path)) as auction:
        access, aid = auction.access, auction.auction
        sealed = []
        for (side, inc), key, label in zip(orders, keys, labels, strict=True):
            s = trader.seal_curve(aid, side, inc, BITS, key, bidder=label)
            sub = trader.deliver(access, s, auction.signers, trader.NAMES)
            assert sub.ok, sub.refused
            sealed.append(s)

        def refused(payload, role=0):
            reply = send(access, role, payload)
            assert reply["ok"] is False
            return reply["reason"]

        # the same signed order again, and trader 1's share for K sent to E
        assert refused(sealed[1].payloads[0]).startswith("duplicate: this bid was already received")
        assert refused(sealed[1].payloads[0], role=1) == "share does not match this party's hash in the header"
        # a fresh order under a label already used, under alice's registered name, under another's address
        again = trader.seal_curve(aid, "buy", [1] * LEVELS, BITS, keys[2], bidder=labels[2])
        assert refused(again.payloads[0]) == f"duplicate: {labels[2]} already bid in this auction"
        squat = trader.seal_curve(aid, "sell", [1] * LEVELS, BITS, mallory, bidder="alice")
        assert refused(squat.payloads[0]).startswith("label 'alice' is not registered to key")
        squat = trader.seal_curve(aid, "sell", [1] * LEVELS, BITS, mallory, bidder=labels[3])
        assert refused(squat.payloads[1], role=1).startswith(f"label {labels[3]} is an address")
        # malformed: a value that is not BITS bits, a missing level, a side that is no order's
        bad = trader.seal_curve(aid, "buy", [0] * LEVELS, BITS, mallory)
        wide = {**bad.payloads[0], "share": [1 << BITS, *bad.payloads[0]["share"][1:]]}
        assert refused(wide) == f"share: expected {LEVELS} integers below 2^{BITS}, one per level"
        assert refused({**bad.payloads[1], "share": bad.payloads[1]["share"][1:]}, role=1).startswith("share:")
        reserve = trader.seal_curve(aid, "buy", [0] * LEVELS, BITS, mallory)
        header = {**reserve.payloads[0]["header"], "side": "reserve"}
        h = messages.BidHeader.from_json(header)
        header["signature"] = messages.sign(h.digest(), mallory)
        assert refused({**reserve.payloads[0], "header": header}) == "side: must be buy or sell"
        # another auction's order
        other = trader.seal_curve("0x" + "11" * 16, "buy", [0] * LEVELS, BITS, mallory)
        assert refused(other.payloads[0]) == "unknown auction"

        r = auction.close()
        late = trader.seal_curve(aid, "buy", [1] * LEVELS, BITS, mallory)
        assert refused(late.payloads[0]) == "late: the auction is closed"
        assert refused(late.payloads[1], role=1) == "late: the auction is closed"
        traffic = auction.traffic

    assert r.ok, r.reason
    assert sorted(r.bidders) == sorted(labels)  # every accepted order, nothing refused got in
    by_label = dict(zip(labels, orders, strict=True))
    expected = clear_double(list(range(LEVELS)), [by_label[b][0] for b in r.bidders],
                            [by_label[b][1] for b in r.bidders])
    assert expected.price is not None and expected.quantities  # the instance trades
    assert r.level == expected.price and r.quantities == expected.quantities
    # The auctioneer's traffic holds no share of any trader (the piped run's does: test above).
    for s in sealed:
        for role in (0, 1):
            assert not _holds(traffic, shares.to_bits([int(x, 16) for x in s.opening["shares"][role]], BITS))
    # Each party got exactly its own share of each trader, and those alone are uniform.
    for role, name in ((0, "keyholder"), (1, "evaluator")):
        got = {h["bidder"]: h["share"] for h in _frames(tmp_path / f"{name}.frames") if h.get("type") == "share"}
        assert set(got) == set(labels)
        seen, truth = [], []
        for s, (_, inc) in zip(sealed, orders, strict=True):
            mine = shares.to_bits([int(x, 16) for x in s.opening["shares"][role]], BITS)
            assert got[s.opening["bidder"]] == mine
            seen += [x for row in mine for x in row]
            truth += [x for row in shares.to_bits(inc, BITS) for x in row]
        agree = sum(x == y for x, y in zip(seen, truth, strict=True))
        assert 0.3 * len(truth) < agree < 0.7 * len(truth), (name, agree, len(truth))


@pytest.mark.slow
@needs_fhe
def test_cli_open_bid_close(tmp_path):
    import subprocess
    import sys
    import time

    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "mevauction", "sealed", *args, "--backend", "tfhe"],
                              capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)

    spec = tmp_path / "spec.json"
    opener = subprocess.Popen([sys.executable, "-m", "mevauction", "sealed", "open", "--backend", "tfhe",
                               "--mechanism", "double", "--grid", "100,200,300,400", "--max-bids", "4",
                               "--spec", str(spec)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        for _ in range(240):
            if spec.is_file() or opener.poll() is not None:
                break
            time.sleep(0.5)
        auction = json.loads(spec.read_text())["auction"]
        orders = [("buy", '[["300", 2]]', [0, 0, 2, 0]), ("sell", '[["100", 1], ["200", 1]]', [1, 1, 0, 0])]
        for i, (side, curve, _) in enumerate(orders):
            p = cli("bid", "--parties-file", str(spec), "--auction", auction, "--side", side, "--curve", curve,
                    "--opening", f"o{i}.json")  # a fresh key each, its address the label
            assert p.returncode == 0, p.stderr + p.stdout
        p = cli("bid", "--parties-file", str(spec), "--auction", auction, "--side", "sell", "--curve", '[["150", 1]]',
                "--opening", "bad.json")
        assert p.returncode == 2 and p.stderr.strip() == "error: --curve[0][0]: not a price of the auction's grid"
        p = cli("close", "--spec", str(spec), "--json", "out.json")
        assert p.returncode == 0, p.stderr
    finally:
        try:
            opener.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a failed step above never closed it
            opener.kill()
            opener.wait()
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["format"] == "mevauction.sealed/1" and out["backend"] == "tfhe" and out["n_bids"] == 2
    expected = clear_double([100, 200, 300, 400], [s for s, _, _ in orders], [inc for _, _, inc in orders])
    assert out["price"] == expected.price and len(out["quantities"]) == len(expected.quantities) > 0
