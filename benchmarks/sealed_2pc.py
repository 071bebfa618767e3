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
    ap.add_argument("--json", default="docs/benchmarks/sealed_2pc.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows = []
    load = [os.getloadavg()[0]]
    committee = None
    if not args.no_mpc:
        from mevauction.privacy.client import LocalCommittee, SealedBid, run_on

        committee = LocalCommittee(3, timeout=600).__enter__()
    try:
        with LocalPair(timeout=600) as pair:
            for n in args.sizes:
                for mechanism in args.mechanisms:
                    runs: dict[str, list[dict]] = {"2pc close": [], "2pc intake": [], "2pc bidders": [], "mpc": []}
                    for _ in range(args.repeat):
                        bids = [rng.randrange(1 << 64) for _ in range(n)]
                        clear = CLEAR[mechanism](bids)
                        for mode in ("close", "intake"):
                            r = pair.run(mechanism, bids, inputs=mode)
                            assert r.ok and (r.winner, r.price) == (clear.winner, clear.price), r.reason
                            runs[f"2pc {mode}"].append({"elapsed_s": r.elapsed_s, "preprocess_s": r.preprocess_s,
                                                        "bytes": max(r.bytes_sent)})
                        if args.bidders:
                            runs["2pc bidders"].append(_bidders(pair, mechanism, bids, clear))
                        if committee is not None:
                            sealed = [SealedBid(f"b{i:05d}", [v]) for i, v in enumerate(bids)]
                            res = asyncio.run(run_on(committee.access(), mechanism, sealed))
                            assert res.ok and res.outcome["price"] == clear.price, res.reason
                            runs["mpc"].append({"elapsed_s": res.elapsed_s, "preprocess_s": res.preprocess_s,
                                                "bytes": max(s["bytes_sent"] for s in res.statements)})
                    for name, rs in runs.items():
                        if rs:
                            el = sorted(r["elapsed_s"] for r in rs)
                            rows.append({"n": n, "mechanism": mechanism, "backend": name,
                                         "median_ms": statistics.median(el) * 1e3, "min_ms": el[0] * 1e3,
                                         "max_ms": el[-1] * 1e3,
                                         "preprocess_ms": statistics.median(r["preprocess_s"] for r in rs) * 1e3,
                                         "bytes_per_party": max(r["bytes"] for r in rs),
                                         **({"submit_ms": statistics.median(r["submit_s"] for r in rs) * 1e3}
                                            if "submit_s" in rs[0] else {})})
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
    Console().print(table)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows, "load": load, "repeat": args.repeat}, indent=1))


def _bidders(pair: LocalPair, mechanism: str, bids: list[int], clear: M.Outcome) -> dict:
    """Bidders seal and submit their own shares; the close is the deadline."""
    import secrets
    import time

    from mevauction.privacy import messages
    from mevauction.privacy.client import SealedBid
    from mevauction.privacy.twoparty import submit

    access = submit.PairAccess.from_parties(pair.parties())
    spec = {"auction": "0x" + secrets.token_hex(16), "mechanism": mechanism, "max_bids": len(bids), "k": 1}
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
