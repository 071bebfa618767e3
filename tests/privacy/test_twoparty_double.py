"""The two-party double auction: the circuit against the plaintext twin (ties, no trade,
invalid curves), invalid curves counting as zero, the bound, and the real pair of
processes and the CLI (only price and quantities leave, never a curve)."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mevauction.privacy import mechanisms as M
from mevauction.privacy.field import QUANTITY_BITS
from mevauction.privacy.twoparty import double as D
from mevauction.privacy.twoparty import execution
from mevauction.privacy.twoparty import garble as G
from mevauction.privacy.twoparty.local import LocalPair, run_double
from property_settings import examples
from repo_paths import ROOT, SRC

TOP = (1 << QUANTITY_BITS) - 1  # the largest step the format allows


@st.composite
def markets(draw, max_traders=6, max_levels=5, invalid=True):
    """(grid, sides, curves): steps from {0..3, 2^48 − 1} (ties are common), some curves garbage."""
    n, levels = draw(st.integers(1, max_traders)), draw(st.integers(1, max_levels))
    sides = draw(st.lists(st.sampled_from(D.SIDES), min_size=n, max_size=n))
    step = st.one_of(st.integers(0, 3), st.just(TOP))
    curves = [D.curve(s, draw(st.lists(step, min_size=levels, max_size=levels))) for s in sides]
    width = D.widths(n, levels).curve
    for i in range(n):
        if invalid and draw(st.integers(0, 3)) == 0:  # any value a share could carry
            value = st.one_of(st.integers(0, 4), st.integers(0, (1 << width) - 1))
            curves[i] = draw(st.lists(value, min_size=levels, max_size=levels))
    grid = sorted(draw(st.sets(st.integers(0, 10**20), min_size=levels, max_size=levels)))
    return grid, sides, curves


def _bits(curves, width):
    return D._to_bits(np.array(curves, dtype=object), width)


def _plain(grid, sides, curves):
    p = G.Plain()
    x = p.const(_bits(curves, D.widths(len(curves), len(grid)).curve))
    out = D.auction(p, sides, x, np.zeros_like(x))
    return D.decode({"n": len(curves), "grid": [str(g) for g in grid]}, {k: v[..., 0] for k, v in out.items()})


def _garbled(grid, sides, curves):
    g = G.Garbler()
    bits = _bits(curves, D.widths(len(curves), len(grid)).curve)
    x = g.inputs(bits.shape)
    outs = D.auction(g, sides, x, np.zeros_like(x))
    tables = np.concatenate(g.tables)
    got = D.auction(G.Evaluator(tables, g.zero), sides, g.encode(x, bits), np.zeros_like(x))
    decoded = execution.check_outputs(outs, np.concatenate([v.reshape(-1) for v in got.values()]), g.delta)
    return D.decode({"n": len(curves), "grid": [str(p) for p in grid]}, decoded)


def _expected(grid, sides, curves):
    o = D.clear_curves(grid, sides, curves)
    return {"winner": None, "price": o.price, "winners": o.winners,
            "quantities": {str(i): str(q) for i, q in o.quantities.items()}}


# -- the twin is the committee's rule ----------------------------------------------------

@given(markets(invalid=False))
def test_twin_of_valid_curves_is_the_committees_clear_double(market):
    grid, sides, curves = market
    steps = [D.increments(s, c) for s, c in zip(sides, curves, strict=True)]
    assert all(s is not None for s in steps)
    assert D.clear_curves(grid, sides, curves) == M.clear_double(grid, sides, steps)


def test_increments_refuse_what_no_order_could_be():
    assert D.increments("buy", [5, 3, 3]) == [2, 0, 3]
    assert D.increments("sell", [1, 1, 4]) == [1, 0, 3]
    assert D.increments("buy", [3, 5]) is None  # demand rising with the price
    assert D.increments("sell", [5, 3]) is None  # supply falling with the price
    assert D.increments("sell", [TOP + 1]) is None  # one step above the bound
    assert D.increments("buy", [2 * TOP, TOP]) == [TOP, TOP]  # two steps at the bound are fine


# -- the circuit -------------------------------------------------------------------------

@settings(max_examples=examples(200))
@given(markets())
@example(([10, 20], ["buy", "sell"], [[2, 2], [2, 2]]))  # demand = supply at every level: the highest clears
@example(([10, 20], ["buy", "buy"], [[2, 1], [3, 0]]))  # no seller: a price, no trade
@example(([10, 20], ["buy", "sell"], [[0, 0], [4, 4]]))  # supply above demand everywhere: no price
@example(([10], ["buy", "sell"], [[TOP + 1], [1]]))  # an out-of-bound buyer counts as zero
def test_plain_circuit_equals_twin(market):
    assert _plain(*market) == _expected(*market)


@settings(max_examples=examples(25))
@given(markets(max_traders=5, max_levels=4))
def test_garbled_circuit_equals_twin(market):
    assert _garbled(*market) == _expected(*market)


def _naive_price(grid, sides, curves):
    """The price if every curve were summed as sent, valid or not (what the circuit must not do)."""
    total = lambda side, g: sum(c[g] for s, c in zip(sides, curves, strict=True) if s == side)
    clears = [g for g in range(len(grid)) if total("buy", g) >= total("sell", g)]
    return grid[clears[-1]] if clears else None


def test_an_invalid_curve_counts_as_zero():
    """A third trader whose curve no order could give (demand rising with the price, a step
    above the bound, a value beyond every step) would move the price if it were summed; it
    moves nothing: the outcome is the one with its order withdrawn, and it never trades."""
    grid, sides = [10, 20, 30], ["buy", "sell", "buy"]
    honest = [[4, 2, 1], [1, 2, 5], [0, 0, 0]]
    baseline = _plain(grid, sides, honest)
    assert baseline["price"] == 20
    for bad in ([0, 0, 9], [9, 0, 9], [TOP + 5] * 3, [1 << 50, 1 << 50, TOP + 1]):
        curves = [honest[0], honest[1], bad]
        assert _naive_price(grid, sides, curves) != baseline["price"]
        assert _plain(grid, sides, curves) == baseline == _garbled(grid, sides, curves)


def test_largest_steps_do_not_wrap():
    """Every step at 2^48 − 1 on every level for many traders: the totals need the widest
    bits the widths give, and the price is still the twin's."""
    grid = list(range(1, 9))
    sides = ["buy"] * 9 + ["sell"] * 7
    curves = [D.curve(s, [TOP] * len(grid)) for s in sides]
    assert _plain(grid, sides, curves) == _expected(grid, sides, curves)
    assert _expected(grid, sides, curves)["price"] is not None


@pytest.mark.slow
def test_the_largest_market_the_bound_allows_is_exact():
    """255 traders × 257 levels (n·G = 65,535) with every step at 2^48 − 1: the buyers' total
    at the lowest level is 128 · 257 · (2^48 − 1) ≈ 2^63, the full width the bound gives;
    the price and every quantity are still the twin's (a total cut short would wrap)."""
    grid, sides = list(range(1, 258)), ["buy"] * 128 + ["sell"] * 127
    curves = [D.curve(s, [TOP] * len(grid)) for s in sides]
    assert D.widths(len(sides), len(grid)).curve + (128 - 1).bit_length() == 64
    assert _plain(grid, sides, curves) == _expected(grid, sides, curves)


def test_widths_follow_the_bound_and_refuse_beyond_it():
    w = D.widths(128, 256)
    assert (w.curve, w.level) == (QUANTITY_BITS + 8, 8)
    assert D.widths(1, 1).curve == QUANTITY_BITS
    D.widths(255, 257)  # 65,535 points: the largest size
    for n, levels in ((256, 256), (1 << 16, 1), (2, 1 << 15)):
        with pytest.raises(ValueError, match="traders × price levels must be below 65536"):
            D.widths(n, levels)
    with pytest.raises(ValueError, match="at least one"):
        D.widths(0, 4)


def test_a_party_refuses_jobs_beyond_the_bound_or_with_wide_shares():
    job = {"mechanism": "double", "n": 2, "sides": ["buy", "sell"], "grid": ["1", "2"],
           "shares": [["0", "0"], ["0", "0"]]}
    assert execution._input_bits(job).shape == (2, 2, QUANTITY_BITS + 1)
    wide = {**job, "shares": [["0", f"{1 << (QUANTITY_BITS + 1):x}"], ["0", "0"]]}
    with pytest.raises(ValueError, match="below 2\\^49"):
        execution._input_bits(wide)
    with pytest.raises(ValueError, match="must be below 65536"):
        execution._input_bits({**job, "n": 1 << 15, "sides": ["buy"] * (1 << 15)})
    with pytest.raises(ValueError, match="sides"):
        execution._input_bits({**job, "sides": ["buy", "reserve"]})
    with pytest.raises(ValueError, match="grid"):
        execution._input_bits({**job, "grid": ["2", "1"]})


def test_shares_hide_the_curve():
    curves = [[10**12] * 4] * 32
    a, b = D.share_curves(curves, 50)
    assert len({v for row in a for v in row}) == 128  # fresh masks, none repeated
    assert all(int(x, 16) ^ int(y, 16) == 10**12 for ra, rb in zip(a, b, strict=True)
               for x, y in zip(ra, rb, strict=True))


# -- the real pair and the CLI -------------------------------------------------------------

@pytest.fixture(scope="module")
def pair():
    with LocalPair() as p:
        yield p


@pytest.mark.slow
@settings(max_examples=examples(10))
@given(market=markets(max_traders=8, max_levels=6), inputs=st.sampled_from(["close", "intake"]))
def test_pair_of_processes_equals_twin(pair, market, inputs):
    grid, sides, curves = market
    r = run_double(pair.chans, grid, sides, curves, inputs=inputs)
    o = D.clear_curves(grid, sides, curves)
    assert r.ok, r.reason
    assert (r.price, r.winners, r.quantities) == (o.price, o.winners, o.quantities)


@pytest.mark.slow
def test_run_double_refuses_beyond_the_bound_before_sending(pair):
    with pytest.raises(ValueError, match="below 65536"):
        run_double(pair.chans, list(range(256)), ["buy"] * 256, [[0] * 256] * 256)
    r = run_double(pair.chans, [1, 2], ["buy", "sell"], [[3, 1], [1, 3]])  # the pair still serves
    assert r.ok and (r.price, r.quantities) == (1, {0: 3, 1: 1})


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})


@pytest.mark.slow
def test_cli_double_on_2pc_reveals_price_and_quantities_only(tmp_path):
    rng = random.Random(7)
    prices = [10**15 * (g + 1) for g in range(6)]
    bids = [{"bidder": f"t{i}", "side": side,
             "curve": [[str(p), str(rng.randrange(10**9, 10**12))] for p in rng.sample(prices, 3)]}
            for i, side in enumerate(["buy", "sell"] * 5)]
    path = tmp_path / "curves.json"
    path.write_text(json.dumps({"format": "mevauction.bids/1", "bids": bids}))
    out = tmp_path / "out.json"
    proc = cli("sealed", "run", "--backend", "2pc", "--bids", str(path), "--mechanism", "double",
               "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    sides = [b["side"] for b in bids]
    steps = [[sum(int(q) for p, q in b["curve"] if int(p) == g) for g in prices] for b in bids]
    clear = M.clear_double(prices, sides, steps)
    assert report["backend"] == "2pc" and report["price"] == clear.price and clear.winners
    assert report["winners"] == [bids[i]["bidder"] for i in clear.winners]
    assert report["quantities"] == {bids[i]["bidder"]: str(q) for i, q in clear.quantities.items()}
    verify = cli("sealed", "verify", str(out), "--committee-keys", str(tmp_path / "out.committee.json"))
    assert verify.returncode == 0, verify.stdout
    # no curve value in anything published, except the quantities the outcome names
    published = out.read_text() + (tmp_path / "out.transcript.json").read_text()
    opened = {int(q) for q in report["quantities"].values()}
    values = {int(q) for b in bids for _, q in b["curve"]}
    values |= {D.curve(s, inc)[g] for s, inc in zip(sides, steps, strict=True) for g in range(len(prices))}
    for v in values - opened - {0}:
        assert str(v) not in published and f"{v:x}" not in published
    # a transcript whose quantities were changed no longer verifies
    t = json.loads((tmp_path / "out.transcript.json").read_text())
    who = next(iter(t["outcome"]["quantities"]))
    t["outcome"]["quantities"][who] = str(int(t["outcome"]["quantities"][who]) + 1)
    (tmp_path / "out.transcript.json").write_text(json.dumps(t))
    forged = cli("sealed", "verify", str(out), "--committee-keys", str(tmp_path / "out.committee.json"))
    assert forged.returncode == 1 and "quantities" in forged.stdout


def test_cli_double_beyond_the_bound_is_one_line(tmp_path):
    bids = [{"bidder": f"t{i}", "side": "buy", "curve": [[str(p), "1"] for p in range(256)]} for i in range(256)]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"format": "mevauction.bids/1", "bids": bids}))
    proc = cli("sealed", "run", "--backend", "2pc", "--bids", str(path), "--mechanism", "double")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("error: bids:") and "65536" in proc.stderr


def test_the_two_party_modules_do_not_import_mpyc():
    """MPyC parses sys.argv when imported: a party or a CLI command of the pair importing it
    (through the committee's mechanisms) would take its own options for MPyC's."""
    code = ("import sys; sys.argv = ['x', '--out', 'y']\n"
            "import mevauction.privacy.twoparty.party, mevauction.privacy.twoparty.local, mevauction.cli.sealed_2pc\n"
            "assert not any(m.startswith('mpyc') for m in sys.modules), 'mpyc imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
