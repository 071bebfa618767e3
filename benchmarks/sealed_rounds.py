"""Where a committee's deadline → result goes: every opening round traced inside each server.

Starts a ``LocalCommittee(3)`` whose ``committee serve`` processes load a ``sitecustomize``
from a temporary directory (nothing in the package changes): it wraps ``Engine.exchange``
and ``Engine._open_flat`` and appends, per call, wall and CPU time before and after and the
element count to one JSON-lines file per server. Runs ``--repeat`` second-price auctions
and prints, for the last one, per server: rounds, wall vs CPU inside the openings (the
rest of an opening's wall is waiting for peers) and between them (local work; wall above
CPU is time the process was not scheduled).

    PYTHONPATH=src python benchmarks/sealed_rounds.py --bids 1024 --repeat 2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import tempfile
from pathlib import Path

from mevauction.privacy.client import LocalCommittee, SealedBid, run_on
from mevauction.privacy.mechanisms import clear_second

# Loaded by every Python process started with this directory on PYTHONPATH; it only
# installs itself in committee servers (the trace directory is in their environment).
HOOK = '''
import json, os, sys, time
_dir = os.environ.get("SEALED_TRACE_DIR")
if _dir and "committee" in sys.argv:
    from mevauction.privacy import protocol
    _out = open(os.path.join(_dir, f"trace_{os.getpid()}.jsonl"), "a", buffering=1)

    def _timed(orig, size):
        async def run(self, *args):
            t0, c0 = time.perf_counter(), time.process_time()
            result = await orig(self, *args)
            _out.write(json.dumps([t0, time.perf_counter(), c0, time.process_time(), size(args)]) + "\\n")
            return result
        return run

    protocol.Engine._open_flat = _timed(protocol.Engine._open_flat, lambda a: int(a[0].size))
    protocol.Engine.exchange = _timed(protocol.Engine.exchange, lambda a: -1)
'''


def summary(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    last = rows[max(i for i, r in enumerate(rows) if r[4] == -1):]  # from the last agreement on
    opens = last[1:]
    gaps = list(itertools.pairwise(last))
    small = [1e3 * (r[1] - r[0]) for r in opens if r[4] <= 64]
    return {
        "rounds": 2 + len(opens),  # the agreement is two swaps (values, then their digest)
        "wall_ms": 1e3 * (last[-1][1] - last[0][0]),
        "agreement_ms": (1e3 * (last[0][1] - last[0][0]), 1e3 * (last[0][3] - last[0][2])),
        "openings_ms": (1e3 * sum(r[1] - r[0] for r in opens), 1e3 * sum(r[3] - r[2] for r in opens)),
        "between_ms": (1e3 * sum(b[0] - a[1] for a, b in gaps), 1e3 * sum(b[2] - a[3] for a, b in gaps)),
        "small_round_ms": (statistics.median(small), max(small)) if small else (0.0, 0.0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bids", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2, help="auctions; the last one is reported")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as hook_dir, tempfile.TemporaryDirectory() as trace_dir:
        Path(hook_dir, "sitecustomize.py").write_text(HOOK)
        os.environ["PYTHONPATH"] = hook_dir + os.pathsep + os.environ.get("PYTHONPATH", "")
        os.environ["SEALED_TRACE_DIR"] = trace_dir
        load = [os.getloadavg()[0]]
        with LocalCommittee(3, timeout=600) as committee:
            for _ in range(args.repeat):
                values = [rng.randrange(1 << 64) for _ in range(args.bids)]
                bids = [SealedBid(f"b{i:05d}", [v]) for i, v in enumerate(values)]
                result = asyncio.run(run_on(committee.access(), "second", bids))
                expected = clear_second(values)
                if not result.ok or result.outcome["price"] != expected.price:
                    raise SystemExit(f"wrong or aborted auction: {result.reason}")
                print(f"{args.bids} bids: deadline → result {1e3 * result.elapsed_s:.0f} ms")
        load.append(os.getloadavg()[0])
        for path in sorted(Path(trace_dir).glob("trace_*.jsonl")):
            s = summary(path)
            print(f"server {path.stem[6:]}: {s['rounds']} rounds, {s['wall_ms']:.0f} ms wall | agreement "
                  f"{s['agreement_ms'][0]:.0f} ms ({s['agreement_ms'][1]:.0f} CPU) | openings "
                  f"{s['openings_ms'][0]:.0f} ms ({s['openings_ms'][1]:.0f} CPU) | between "
                  f"{s['between_ms'][0]:.0f} ms ({s['between_ms'][1]:.0f} CPU) | rounds of ≤ 64 elements: "
                  f"median {s['small_round_ms'][0]:.1f} ms, max {s['small_round_ms'][1]:.1f}")
    print(f"load average (1 min) start / end: {load[0]:.2f} / {load[1]:.2f}")


if __name__ == "__main__":
    main()
