"""Default + refunds against mp-ordering on generated amm or evm blocks, fastest of N.

``mevauction bench`` runs every algorithm once per block and times refunds once, so on
a shared machine single load spikes set its p99. This script times, per block, the
default algorithm with every refund (``DefaultBuilder.solve``) and mp-ordering's
``build``, ``--repeat`` times each, each on a newly built world (an evm world remembers
outcomes), and keeps the fastest, in wall-clock and in CPU time (the second is what a
loaded two-core machine distorts least). It also writes o*'s value
and every refund r_i, so two code versions run side by side (each with its own
``PYTHONPATH``) can be checked equal block by block with ``--compare``:

    PYTHONPATH=/tmp/before/src python benchmarks/default_refunds.py --blocks 120 --json before.json &
    PYTHONPATH=src python benchmarks/default_refunds.py --blocks 120 --json after.json
    python benchmarks/default_refunds.py --compare before.json after.json

``--slots DIR`` keeps each generated slot as JSON and reads it back on later runs, so
both versions time the same blocks (an evm slot takes about a minute to generate).

``--paths`` (amm): every timed run is made twice, on the compiled core and on the
pure-Python cursor (``AmmWorld.use_pure_cursor``), interleaved block by block, so
load on the machine hits both alike; both must give the same o*, refunds and
counterfactual blocks (checked), and both are printed with their ratio to
mp-ordering on the same path.
"""

from __future__ import annotations

import argparse
import json
import time


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def scenario(world_kind: str, orders: int, slot_seed: int, profile: str,
             slots: str | None) -> dict:
    """A generated slot; with ``slots`` kept as JSON in that folder and read back on a
    later run, so two code versions time the very same blocks (and an evm slot, which
    takes ≈ 1 min of anvil work to generate, is made once)."""
    import os

    from mevauction.intake import workloads

    path = os.path.join(slots, f"{world_kind}-{profile}-{orders}-{slot_seed}.json") if slots else None
    if path and os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    made = workloads.generate(world_kind, orders, slot_seed, **workloads.profile_options(world_kind, profile))
    if path:
        os.makedirs(slots, exist_ok=True)  # type: ignore[arg-type]
        with open(path, "w") as fh:
            json.dump(made, fh)
    return made


def measure(blocks: int, orders: int, seed: int, repeat: int, world_kind: str = "amm",
            profile: str = "mainnet", slots: str | None = None, paths: bool = False) -> list[dict]:
    from mevauction.building.default import DefaultBuilder
    from mevauction.building.registry import make_builder
    from mevauction.evaluation.harness import block_seed
    from mevauction.worlds import build_world

    rows = []
    for index in range(blocks):
        slot_seed = block_seed(seed, index)
        # evm: real Uniswap V2 contracts generated on a throwaway anvil (the uniswap
        # workload), so the scenario is made outside the timed region
        doc = scenario(world_kind, orders, slot_seed, profile, slots)
        mp = make_builder("mp-ordering", k_cutoff=8, seed=slot_seed, block_gas_limit=30_000_000)
        row: dict = {"index": index}
        times: dict[str, list[float]] = {}
        results = {}
        for _ in range(repeat):
            for prefix in ("", "pure_") if paths else ("",):
                def world_now():
                    # A new world for every timed run: a world remembers outcomes (the evm
                    # world's reuse), which must help neither a repeat nor the other builder.
                    made = build_world(doc)
                    return made.use_pure_cursor() if prefix else made
                world = world_now()
                ids = list(world.orders)
                start, cpu = time.perf_counter(), time.process_time()
                results[prefix] = DefaultBuilder(8, slot_seed).solve(world, ids)
                times.setdefault(f"{prefix}refunds_ms", []).append((time.perf_counter() - start) * 1000)
                times.setdefault(f"{prefix}refunds_cpu_ms", []).append((time.process_time() - cpu) * 1000)
                world = world_now()
                start, cpu = time.perf_counter(), time.process_time()
                mp.build(world, ids)
                times.setdefault(f"{prefix}mp_ms", []).append((time.perf_counter() - start) * 1000)
                times.setdefault(f"{prefix}mp_cpu_ms", []).append((time.process_time() - cpu) * 1000)
        # CPU time too: on a shared machine it is less disturbed by other jobs than wall time
        row |= {key: min(values) for key, values in times.items()}
        solution = results[""]
        row |= {"value": str(solution.value),
                "block": [[oid, str(solution.block.bids[oid])] for oid in solution.block.orders],
                "refunds": {oid: str(r) for oid, r in sorted(solution.refunds.items())},
                "counterfactual": {oid: list(o) for oid, o in sorted(solution.counterfactual.items())}}
        if paths:
            pure = results["pure_"]
            row["paths_equal"] = (pure.block.orders, pure.block.bids, pure.refunds, pure.counterfactual) == (
                solution.block.orders, solution.block.bids, solution.refunds, solution.counterfactual)
        rows.append(row)
    return rows


def summary(rows: list[dict], prefix: str = "") -> str:
    if prefix:
        rows = [{key[len(prefix):]: value for key, value in r.items() if key.startswith(prefix)} for r in rows]
    ref = [r["refunds_ms"] for r in rows]
    mp = [r["mp_ms"] for r in rows]
    cpu = [r["refunds_cpu_ms"] for r in rows if "refunds_cpu_ms" in r]  # CPU: what load on other cores leaves out
    line = (f"default + refunds median {percentile(ref, 0.5):.1f} ms, p99 {percentile(ref, 0.99):.1f} ms; "
            f"mp-ordering median {percentile(mp, 0.5):.2f} ms; ratio of medians "
            f"{percentile(ref, 0.5) / percentile(mp, 0.5):.1f}x")
    mp_cpu = [r["mp_cpu_ms"] for r in rows if "mp_cpu_ms" in r]
    if cpu and mp_cpu:
        ratio = percentile(cpu, 0.5) / percentile(mp_cpu, 0.5)
        line += (f"; CPU: default + refunds median {percentile(cpu, 0.5):.1f} ms, p99 {percentile(cpu, 0.99):.1f} ms, "
                 f"mp-ordering median {percentile(mp_cpu, 0.5):.2f} ms, ratio {ratio:.1f}x")
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=120)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--world", choices=("amm", "evm"), default="amm",
                        help="evm: real-contract blocks from the uniswap workload (needs anvil)")
    parser.add_argument("--profile", default="mainnet", choices=("mainnet", "contested"))
    parser.add_argument("--json", help="write per-block rows here")
    parser.add_argument("--slots", help="keep generated slots in this folder and reuse them")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="run under cProfile and print its N most expensive functions")
    parser.add_argument("--paths", action="store_true",
                        help="amm: time the compiled core and the pure-Python cursor, interleaved, in this run")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                        help="check two runs give the same o* and refunds, and compare times")
    args = parser.parse_args()
    if args.compare:
        before, after = (json.load(open(path)) for path in args.compare)
        same = len(before) == len(after) and all(
            b["value"] == a["value"] and b["refunds"] == a["refunds"] for b, a in zip(before, after))
        print(f"{len(before)} blocks; o* and every refund identical: {same}")
        if all("block" in r for r in before + after):
            blocks = all(b["block"] == a["block"] and b["counterfactual"] == a["counterfactual"]
                         for b, a in zip(before, after))
            print(f"o*'s orders and bids and every counterfactual block o_-i identical: {blocks}")
        ratios = sorted(a["refunds_cpu_ms"] / b["refunds_cpu_ms"] for b, a in zip(before, after)
                        if a.get("refunds_cpu_ms") and b.get("refunds_cpu_ms"))
        if ratios:
            print(f"per-block CPU after/before: median {percentile(ratios, 0.5):.3f}")
        print("before:", summary(before))
        print("after: ", summary(after))
        return
    if args.paths and args.world != "amm":
        parser.error("--paths: only the amm world has a compiled core")
    run = (args.blocks, args.orders, args.seed, args.repeat, args.world, args.profile, args.slots, args.paths)
    if args.cprofile:
        # where the time goes (cProfile's overhead inflates small functions: read shares, not times)
        import cProfile
        import pstats
        profiler = cProfile.Profile()
        rows = profiler.runcall(measure, *run)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.cprofile)
    else:
        rows = measure(*run)
    if args.world == "amm":
        from mevauction.worlds.amm import compiled

        print(f"amm world: {compiled.PATH}")
    print(summary(rows))
    if args.paths:
        print("pure Python:", summary(rows, "pure_"))
        speed = sorted(r["pure_refunds_cpu_ms"] / r["refunds_cpu_ms"] for r in rows)
        mp_speed = sorted(r["pure_mp_cpu_ms"] / r["mp_cpu_ms"] for r in rows)
        print(f"per-block CPU pure/compiled: default + refunds median {percentile(speed, 0.5):.2f}x, "
              f"mp-ordering median {percentile(mp_speed, 0.5):.2f}x; same o*, refunds and counterfactual "
              f"blocks on both paths in {sum(r['paths_equal'] for r in rows)}/{len(rows)} blocks")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh)


if __name__ == "__main__":
    main()
