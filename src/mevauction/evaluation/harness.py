"""The comparison harness behind ``mevauction bench`` (spec/bench.md).

The Boost+ paper § 5.4 replays 10,000 mainnet blocks and, per block, runs the default
algorithm and rbuilder's builders on the same orders, comparing block value and
runtime. We do the same on generated blocks: block ``index`` of a run with seed S
is generated from its own seed (a hash of S and the index), so a block's orders
do not depend on how blocks are spread over processes — ``--workers`` and
``--ray`` give the same numbers as a serial run (runtimes aside).

Every algorithm gets every order of the block (Boost+ paper § 5.4 compares whole
blocks). Values are the sums of bids in wei. ``runtime_ms`` of ``default`` is the
time to build o* alone; ``refunds_ms`` is the time of the default algorithm's
pass that yields o* *and* every counterfactual o_{-i} (one walk gives both, see
:mod:`mevauction.building.search`), i.e. the cost of "default + all refunds".
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TypeVar

from mevauction.building.baselines.simulation import simulate_top_of_block
from mevauction.building.conflicts import conflict_groups
from mevauction.building.default import DefaultBuilder
from mevauction.building.registry import BUILDERS, make_builder
from mevauction.errors import InputError
from mevauction.intake import workloads
from mevauction.worlds import build_world

BENCH_FORMAT = "mevauction.bench/1"
ALGORITHMS = ("default", "paper", "mgp-ordering", "mp-ordering", "parallel")
LARGE_GROUP = 8  # spec/bench.md: ``large_groups`` counts groups of ≥ 8 orders


@dataclass(frozen=True, slots=True)
class BenchParams:
    world: str
    blocks: int
    orders: int
    seed: int
    k_cutoff: int = 8
    algorithms: tuple[str, ...] = ALGORITHMS
    # Each algorithm runs ``repeat`` times per block: runtime_ms is the median run,
    # runtime_spread_ms the [fastest, slowest] (values are checked equal across runs).
    repeat: int = 1
    # Workload shape (spec/bench.md): "mainnet" (seed 004 § 5.2) or "contested".
    profile: str = "mainnet"

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["algorithms"] = list(self.algorithms)
        return doc


def check_algorithms(names: Sequence[str]) -> tuple[str, ...]:
    if not names:
        raise InputError("--algorithms", "names no algorithm")
    for name in names:
        if name not in BUILDERS:
            raise InputError("--algorithms", f"unknown algorithm {name!r} (known: {', '.join(BUILDERS)})")
    if len(set(names)) != len(names):
        raise InputError("--algorithms", "names an algorithm twice")
    return tuple(names)


def block_seed(seed: int, index: int) -> int:
    """The generator seed of block ``index``: independent of scheduling."""
    digest = hashlib.sha256(f"mevauction.bench:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000.0


def bench_block(params: BenchParams, index: int) -> dict:
    """Generate block ``index`` and run every algorithm on the same orders."""
    seed = block_seed(params.seed, index)
    scenario = workloads.generate(params.world, params.orders, seed, **workloads.profile_options(
        params.world, params.profile))
    world = build_world(scenario)
    order_ids = list(world.orders)
    sizes = [len(g) for g in conflict_groups(order_ids, world.conflict_access)]
    row: dict = {
        "index": index,
        "seed": seed,
        "orders": len(order_ids),
        "groups": len(sizes),
        "max_group": max(sizes, default=0),
        "large_groups": sum(1 for s in sizes if s >= LARGE_GROUP),
        "conflict_free": sum(1 for s in sizes if s == 1),
        "value": {},
        "runtime_ms": {},
    }
    options = {"k_cutoff": params.k_cutoff, "seed": seed,
               "block_gas_limit": scenario.get("block_gas_limit", 30_000_000)}
    # Orders that fail alone at the top of the block (rbuilder never considers them):
    # the share of each block's value they supply.
    top_ok = set(simulate_top_of_block(world, order_ids))
    row["top_failing_share"] = {}
    if params.repeat > 1:
        row["runtime_spread_ms"] = {}
    for name in params.algorithms:
        builder = make_builder(name, **options)
        runs = [_timed(lambda: builder.build(world, order_ids)) for _ in range(params.repeat)]
        block = runs[0][0]
        if any(b.orders != block.orders or b.value != block.value for b, _ in runs[1:]):
            raise RuntimeError(f"block {index}: {name} is not deterministic")
        times = sorted(ms for _, ms in runs)
        row["value"][name] = block.value
        row["runtime_ms"][name] = round(times[len(times) // 2], 3)
        if params.repeat > 1:
            row["runtime_spread_ms"][name] = [round(times[0], 3), round(times[-1], 3)]
        failing = sum(block.bids.get(i, 0) for i in block.orders if i not in top_ok)
        row["top_failing_share"][name] = round(failing / block.value, 6) if block.value else 0.0
    if "default" in params.algorithms:
        default = DefaultBuilder(params.k_cutoff, seed)
        solution, ms = _timed(lambda: default.solve(world, order_ids, counterfactuals=True))
        if solution.value != row["value"]["default"]:
            raise RuntimeError(f"block {index}: o* differs between build and solve")
        row["refunds_ms"] = round(ms, 3)
    return row


def environment() -> dict:
    """Where a run was measured: commit, Python, machine, cores."""
    import os
    import platform
    import subprocess
    from pathlib import Path

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"commit": commit, "python": platform.python_version(),
            "machine": f"{platform.machine()} {platform.processor() or platform.node()}".strip(),
            "cores": os.cpu_count(), "load": [round(x, 2) for x in os.getloadavg()]}


def _serial(params: BenchParams) -> Iterator[dict]:
    for index in range(params.blocks):
        yield bench_block(params, index)


def _bench_block_star(args: tuple[BenchParams, int]) -> dict:
    return bench_block(*args)


def _pool(params: BenchParams, workers: int) -> Iterator[dict]:
    import multiprocessing

    # spawn: children start clean, whatever threads the parent (progress bar) runs.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap_unordered(_bench_block_star, ((params, i) for i in range(params.blocks)))


def _ray(params: BenchParams, address: str) -> Iterator[dict]:
    try:
        import ray  # type: ignore[import-not-found]
    except ImportError:
        raise InputError("--ray", "Ray is not installed (pip install 'mevauction[ray]')") from None
    import mevauction

    try:
        # Ship this package's code to the workers, so a cluster only needs the
        # dependencies installed, not this exact version of mevauction.
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                 runtime_env={"py_modules": [mevauction]})
    except Exception as exc:  # Ray raises several types for an unreachable cluster
        raise InputError("--ray", f"cannot connect to {address}: {exc}".splitlines()[0]) from None
    remote = ray.remote(bench_block)
    pending = [remote.remote(params, i) for i in range(params.blocks)]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        ray.shutdown()


def run_blocks(params: BenchParams, workers: int = 1, ray_address: str | None = None,
               on_block: Callable[[dict], None] | None = None) -> list[dict]:
    """Every block's row, ordered by index, however the work was spread."""
    if ray_address:
        rows: Iterable[dict] = _ray(params, ray_address)
    elif workers > 1:
        rows = _pool(params, workers)
    else:
        rows = _serial(params)
    collected = []
    for row in rows:
        collected.append(row)
        if on_block is not None:
            on_block(row)
    return sorted(collected, key=lambda r: r["index"])
