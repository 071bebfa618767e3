"""Deadline-to-result latency of the two-party (garbled circuit) backend beside the
3-party MPC committee, on the same random 64-bit bids in the same run.

Two party processes (garbler, evaluator; mutual TLS) on 127.0.0.1, started once. For
each size n and each run: the same bids go to the pair twice,

- ``close``: the bids' labels move after the deadline, inside the measured time: the
  evaluator's 64·n bits b ⊕ r (r the random choices of the OTs precomputed before the
  deadline) and the garbler's 16-byte label per share bit;
- ``intake``: they move before the deadline, as a per-bid streaming intake would do;

and, unless ``--no-mpc``, once to a local 3-server MPyC committee (``run_on``). The base
OTs, the IKNP extension on random choices and the garbling of the circuit for n bids are
preprocessing (before the deadline) in both 2PC modes. With ``--bidders`` a third 2PC mode,
``bidders``: every bid is sealed and submitted by its bidder (``privacy.twoparty.submit``,
one TLS request per party per bid, sequential, timed apart as ``submit``) and the close
is the deadline; the parties garble for max_bids = n rows at ``open`` (its time is the
row's preprocessing). Every result is checked against the clear mechanism.

    PYTHONPATH=src python benchmarks/sealed_2pc.py --sizes 128 1024 --repeat 5 [--bidders]

With ``--double BxSxG ...`` the double auction instead: B buyers and S sellers over G
public price levels (``market``), the same market to the pair (``close``: every curve
value's input labels after the deadline; ``intake``: before; the garbling of the whole
circuit — every curve validated, both sides' totals, the clearing level, the quantities —
is preprocessing) and to the committee's ``double``; checked against
``mechanisms.clear_double``. The issue's size:

    PYTHONPATH=src python benchmarks/sealed_2pc.py --double 64x64x256 --repeat 3 --no-mpc
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mevauction.privacy import mechanisms as M
from mevauction.privacy.twoparty.local import LocalPair

CLEAR = {"first": M.clear_first, "second": M.clear_second}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 1024])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mechanisms", nargs="+", default=["second"], choices=sorted(CLEAR))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--no-mpc", action="store_true", help="skip the 3-party committee baseline")
    ap.add_argument("--bidders", action="store_true", help="also run with bidder-side submission")
    ap.add_argument("--security", nargs="+", default=["semi-honest", "malicious"], choices=["semi-honest", "malicious"],
                    help="2PC modes to run on the same bids: one execution, or dual execution (the default)")
    ap.add_argument("--double", nargs="+", metavar="BxSxG",
                    help="the double auction instead: B buyers and S sellers over G price levels (--sizes unused)")
    ap.add_argument("--json", help="default docs/benchmarks/sealed_2pc.json (sealed_2pc_double.json with --double)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    load = [os.getloadavg()[0]]
    committee = None
    if not args.no_mpc:
        from mevauction.privacy.client import LocalCommittee

        committee = LocalCommittee(3, timeout=1200).__enter__()
    try:
        with LocalPair(timeout=1200) as pair:
            rows = double_rows(pair, committee, args, rng) if args.double else single_rows(pair, committee, args, rng)
    finally:
        if committee is not None:
            committee.__exit__(None, None, None)
    load.append(os.getloadavg()[0])
    title = f"sealed auctions, deadline → result ({args.repeat} runs each; load {load[0]:.1f}→{load[1]:.1f})"
    table = Table(title=title)
    for col in ("n", "mechanism", "backend", "median ms", "min ms", "max ms", "preprocess ms", "MB sent/party",
                "submit ms (all bids)"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(str(r["n"]), r["mechanism"], r["backend"], f"{r['median_ms']:.1f}", f"{r['min_ms']:.1f}",
                      f"{r['max_ms']:.1f}", f"{r['preprocess_ms']:.0f}", f"{r['bytes_per_party'] / 1e6:.2f}",
                      f"{r['submit_ms']:.0f}" if "submit_ms" in r else "")
    Console(width=140).print(table)
    out = Path(args.json or f"docs/benchmarks/sealed_2pc{'_double' if args.double else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "load": load, "repeat": args.repeat}, indent=1))


def _row(n: int | str, mechanism: str, backend: str, rs: list[dict]) -> dict:
    el = sorted(r["elapsed_s"] for r in rs)
    return {"n": n, "mechanism": mechanism, "backend": backend, "median_ms": statistics.median(el) * 1e3,
            "min_ms": el[0] * 1e3, "max_ms": el[-1] * 1e3,
            "preprocess_ms": statistics.median(r["preprocess_s"] for r in rs) * 1e3,
            "bytes_per_party": max(r["bytes"] for r in rs),
            **({"submit_ms": statistics.median(r["submit_s"] for r in rs) * 1e3} if "submit_s" in rs[0] else {})}


def _committee_run(committee, mechanism: str, sealed: list, **kwargs) -> tuple[dict, dict]:
    from mevauction.privacy.client import run_on

    res = asyncio.run(run_on(committee.access(), mechanism, sealed, **kwargs))
    assert res.ok, res.reason
    return res.outcome, {"elapsed_s": res.elapsed_s, "preprocess_s": res.preprocess_s,
                         "bytes": max(s["bytes_sent"] for s in res.statements)}


def single_rows(pair: LocalPair, committee, args: argparse.Namespace, rng: random.Random) -> list[dict]:
    from mevauction.privacy.client import SealedBid

    rows = []
    for n in args.sizes:
        for mechanism in args.mechanisms:
            runs: dict[str, list[dict]] = {f"2pc {sec} {mode}": [] for sec in args.security
                                           for mode in ("close", "intake", "bidders")}
            runs["mpc"] = []
            for _ in range(args.repeat):
                bids = [rng.randrange(1 << 64) for _ in range(n)]
                clear = CLEAR[mechanism](bids)
                for sec in args.security:
                    for mode in ("close", "intake"):
                        r = pair.run(mechanism, bids, inputs=mode, security=sec)
                        assert r.ok and (r.winner, r.price) == (clear.winner, clear.price), r.reason
                        runs[f"2pc {sec} {mode}"].append({"elapsed_s": r.elapsed_s, "preprocess_s": r.preprocess_s,
                                                          "bytes": max(r.bytes_sent)})
                    if args.bidders:
                        runs[f"2pc {sec} bidders"].append(_bidders(pair, mechanism, bids, clear, sec))
                if committee is not None:
                    sealed = [SealedBid(f"b{i:05d}", [v]) for i, v in enumerate(bids)]
                    outcome, run = _committee_run(committee, mechanism, sealed)
                    assert outcome["price"] == clear.price
                    runs["mpc"].append(run)
            rows += [_row(n, mechanism, name, rs) for name, rs in runs.items() if rs]
    return rows


def market(rng: random.Random, buyers: int, sellers: int, levels: int):
    """(grid, sides, steps per level): 1–4 steps per trader, quantities below 2^30; buyers'
    steps mostly in the upper part of the grid and sellers' in the lower, so the sides cross."""
    grid = [10**15 * (g + 1) for g in range(levels)]
    sides = ["buy"] * buyers + ["sell"] * sellers
    steps = []
    for side in sides:
        inc = [0] * levels
        for _ in range(rng.randint(1, 4)):
            g = min(levels - 1, max(0, int(rng.gauss(0.6 if side == "buy" else 0.4, 0.2) * levels)))
            inc[g] += rng.randrange(1, 1 << 30)
        steps.append(inc)
    return grid, sides, steps


def double_rows(pair: LocalPair, committee, args: argparse.Namespace, rng: random.Random) -> list[dict]:
    """The same market to the pair (``2pc close``/``intake``) and to the committee's ``double``."""
    from mevauction.privacy.client import SealedBid
    from mevauction.privacy.twoparty import double
    from mevauction.privacy.twoparty.local import run_double

    rows = []
    for shape in args.double:
        buyers, sellers, levels = (int(x) for x in shape.split("x"))
        runs: dict[str, list[dict]] = {f"2pc {sec} {mode}": [] for sec in args.security for mode in ("close", "intake")}
        runs["mpc"] = []
        for _ in range(args.repeat):
            grid, sides, steps = market(rng, buyers, sellers, levels)
            clear = M.clear_double(grid, sides, steps)
            curves = [double.curve(side, inc) for side, inc in zip(sides, steps, strict=True)]
            for sec in args.security:
                for mode in ("close", "intake"):
                    r = run_double(pair.chans, grid, sides, curves, inputs=mode, security=sec)
                    assert r.ok, r.reason
                    assert (r.price, r.winners, r.quantities) == (clear.price, clear.winners, clear.quantities)
                    runs[f"2pc {sec} {mode}"].append({"elapsed_s": r.elapsed_s, "preprocess_s": r.preprocess_s,
                                                      "bytes": max(r.bytes_sent)})
            if committee is not None:
                sealed = [SealedBid(f"t{i:04d}", inc, side=side)
                          for i, (side, inc) in enumerate(zip(sides, steps, strict=True))]
                outcome, run = _committee_run(committee, "double", sealed, grid=grid)
                assert outcome["price"] == clear.price
                runs["mpc"].append(run)
            print(shape, {k: round(v[-1]["elapsed_s"], 3) for k, v in runs.items() if v}, flush=True)
        rows += [_row(shape, "double", name, rs) for name, rs in runs.items() if rs]
    return rows


def _bidders(pair: LocalPair, mechanism: str, bids: list[int], clear: M.Outcome, security: str) -> dict:
    """Bidders seal and submit their own shares; the close is the deadline."""
    import secrets
    import time

    from mevauction.privacy import messages
    from mevauction.privacy.client import SealedBid
    from mevauction.privacy.twoparty import submit

    access = submit.PairAccess.from_parties(pair.parties())
    spec = {"auction": "0x" + secrets.token_hex(16), "mechanism": mechanism, "max_bids": len(bids), "k": 1,
            "security": security}
    t_open = time.perf_counter()
    submit.open_auction(pair.chans, spec)  # base OTs, extension, garbling for max_bids rows
    open_s = time.perf_counter() - t_open
    keys = [messages.new_key() for _ in bids]
    t0 = time.perf_counter()
    for key, v in zip(keys, bids, strict=True):
        assert submit.submit_bid(access, spec["auction"], SealedBid(messages.address(key), [v], key=key)).ok
    submit_s = time.perf_counter() - t0
    r = submit.close_auction(pair.chans, spec)
    assert r.ok and (r.winner, r.price) == (clear.winner, clear.price), r.reason
    return {"elapsed_s": r.elapsed_s, "preprocess_s": open_s, "bytes": max(r.bytes_sent),
            "submit_s": submit_s}


if __name__ == "__main__":
    main()
