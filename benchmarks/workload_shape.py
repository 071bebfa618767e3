"""A workload's shape against seed 004 § 5.2 (calibration of ``--profile``).

Per block (same block seeds as the bench): the largest conflict group, the number of
groups of >= 8 orders, the share of conflict-free orders, and the block value that
mp-ordering reaches (a cheap lower bound on the best block's value). ``--set`` overrides
a profile knob for a calibration sweep, e.g. ``--set zipf=1.2 --set mev_share=0.04``.

    PYTHONPATH=src python benchmarks/workload_shape.py --profile mainnet --blocks 60 --seed 1
    PYTHONPATH=src python benchmarks/workload_shape.py --world evm --blocks 24 --seed 1 --set unit=1e17

``--world evm`` generates each slot on an embedded anvil (real Uniswap V2; seconds per
slot, so fewer blocks); ``--slots DIR`` keeps the generated slots there and reuses them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
import time
from pathlib import Path

from mevauction.building.conflicts import conflict_groups
from mevauction.building.registry import make_builder
from mevauction.evaluation.harness import block_seed
from mevauction.intake import workloads
from mevauction.intake.workloads import amm
from mevauction.worlds import build_world

ETH = 10**18


def _scenario(world: str, profile: str, orders: int, seed: int, slots: Path | None) -> dict:
    if slots is None:
        return workloads.generate(world, orders, seed, profile=profile)
    knobs = repr(generator_profiles(world)[profile])  # a knob change is another file
    key = hashlib.sha256(f"{world}:{orders}:{seed}:{knobs}".encode()).hexdigest()[:16]
    path = slots / f"{world}-{orders}-{seed}-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    scenario = workloads.generate(world, orders, seed, profile=profile)
    path.write_text(json.dumps(scenario))
    return scenario


def generator_profiles(world: str) -> dict:
    if world == "amm":
        return amm.PROFILES
    from mevauction.intake.workloads import uniswap

    return uniswap.PROFILES


def shape(profile: str, blocks: int, orders: int, seed: int, world: str = "amm", slots: Path | None = None) -> dict:
    rows = []
    generating = 0.0
    for index in range(blocks):
        start = time.perf_counter()
        scenario = _scenario(world, profile, orders, block_seed(seed, index), slots)
        generating += time.perf_counter() - start
        built = build_world(scenario)
        ids = list(built.orders)
        sizes = [len(g) for g in conflict_groups(ids, built.conflict_access)]
        value = make_builder("mp-ordering", block_gas_limit=scenario["block_gas_limit"]).build(built, ids).value
        rows.append((max(sizes), sum(1 for s in sizes if s >= 8), sum(1 for s in sizes if s == 1) / len(ids), value))
    largest = [r[0] for r in rows]
    n = len(rows)
    return {
        "largest_median": statistics.median(largest),
        "largest_le10": sum(1 for x in largest if x <= 10) / n,
        "exactly_one_ge8": sum(1 for r in rows if r[1] == 1) / n,
        "fewer_than_4_ge8": sum(1 for r in rows if r[1] < 4) / n,
        "conflict_free": statistics.median(r[2] for r in rows),
        "value_median_eth": statistics.median(r[3] for r in rows) / ETH,
        "value_gt_1eth": sum(1 for r in rows if r[3] > ETH) / n,
        "generate_s_per_block": generating / n,
    }


TARGETS = ("largest_median ≈ 9, largest_le10 > 0.5, exactly_one_ge8 > 0.5, fewer_than_4_ge8 > 0.5, "
           "value_gt_1eth < 0.5, value_median_eth well under 1 (relay slot 0.042)")


def _knob(raw: str, cast: type) -> object:
    """``1e17`` or ``1,40``: integers for the evm profile (per mille, wei), floats for amm's."""
    values = tuple(cast(float(x)) for x in raw.split(","))
    return values if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--world", default="amm", choices=("amm", "evm"))
    parser.add_argument("--profile", default="mainnet")
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slots", type=Path, help="directory to keep and reuse generated slots in")
    parser.add_argument("--set", action="append", default=[], help="knob=value (Profile field)")
    args = parser.parse_args()
    profiles = generator_profiles(args.world)
    cast = int if args.world == "evm" else float
    changes = {key: _knob(raw, cast) for key, _, raw in (item.partition("=") for item in args.set)}
    profiles[args.profile] = dataclasses.replace(profiles[args.profile], **changes)
    if args.slots:
        args.slots.mkdir(parents=True, exist_ok=True)
    out = shape(args.profile, args.blocks, args.orders, args.seed, args.world, args.slots)
    print(" ".join(f"{k}={v:.3g}" for k, v in out.items()), changes)
    print("targets:", TARGETS)


if __name__ == "__main__":
    main()
