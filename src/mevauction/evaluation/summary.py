"""The ``summary`` of a bench run (spec/bench.md): who builds the best block, how far
the others are, how long each takes — overall, by largest conflict group (Boost+ paper
Fig. 6) and by block value tercile (§ 5.4 looks at blocks worth > 1 ETH apart).

An algorithm is *best* on a block when its value is ≥ every other algorithm's there;
ties count for all tied. The relative gap of a non-best algorithm is
(best − value) / best.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_GROUP_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("<=3", 0, 3),
    ("4-7", 4, 7),
    ("8-10", 8, 10),
    ("11-20", 11, 20),
    (">20", 21, math.inf),
)
TERCILES = ("low", "mid", "high")
ETH = 10**18
# Seed 004 § 5.2 / Fig. 5–6 and the relay data, as (statistic, target). The paper
# gives no numbers beyond "most" / "over 50 %" / "a minority": read as > 50 % / < 50 %.
SHAPE_TARGETS: tuple[tuple[str, str], ...] = (
    ("largest_group_median", "≤ 10 (Fig. 6: mostly ≤ 10)"),
    ("largest_group_le_10", "> 50 % (Fig. 6)"),
    ("exactly_one_large_group", "> 50 % (Fig. 5)"),
    ("fewer_than_four_large_groups", "> 50 % (Fig. 5: the majority)"),
    ("value_gt_1_eth", "a minority (< 50 %, > 0; § 5.4)"),
    ("value_median_eth", "relay slot 6214255: winning bid 0.042, median bid 0.025"),
    ("conflict_free_orders", "about half or more (§ 5.2: conflicts not common)"),
)


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least q% of values ≤ it."""
    if not values:
        return None
    s = sorted(values)
    return float(s[max(0, math.ceil(q / 100 * len(s)) - 1)])


def best_value(row: dict) -> int:
    return max(row["value"].values())


def is_best(row: dict, name: str) -> bool:
    return row["value"][name] >= best_value(row)


def relative_gap(row: dict, name: str) -> float:
    best = best_value(row)
    return (best - row["value"][name]) / best if best else 0.0


def bucket_of(max_group: int) -> str:
    for label, low, high in MAX_GROUP_BUCKETS:
        if low <= max_group <= high:
            return label
    raise ValueError(max_group)


def _rounded(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(x, digits)


def outcome_summary(rows: Sequence[dict], algorithms: Sequence[str]) -> dict:
    """Best share and gaps when not best, over ``rows``."""
    n = len(rows)
    share, gap, abs_gap = {}, {}, {}
    for name in algorithms:
        wins = sum(1 for r in rows if is_best(r, name))
        losses = [r for r in rows if not is_best(r, name)]
        share[name] = _rounded(wins / n) if n else None
        gap[name] = _rounded(median([relative_gap(r, name) for r in losses]))
        m = median([best_value(r) - r["value"][name] for r in losses])
        abs_gap[name] = None if m is None else int(m)
    return {"blocks": n, "best_share": share, "median_gap_when_not_best": gap,
            "median_abs_gap_when_not_best": abs_gap}


def runtime_summary(rows: Sequence[dict], algorithms: Sequence[str]) -> dict:
    out: dict = {"median": {}, "p99": {}}
    for name in algorithms:
        times = [r["runtime_ms"][name] for r in rows]
        out["median"][name] = _rounded(median(times), 3)
        out["p99"][name] = _rounded(percentile(times, 99), 3)
    return out


def workload_shape(rows: Sequence[dict]) -> dict:
    """The generated blocks' shape, the statistics of :data:`SHAPE_TARGETS` (value: the
    best block found by any algorithm)."""
    n = len(rows)
    if not n or any("large_groups" not in r for r in rows):  # rows of an older bench file
        return {}
    largest = [r["max_group"] for r in rows]
    values = [best_value(r) for r in rows]
    shape = {
        "largest_group_median": median(largest),
        "largest_group_le_10": _rounded(sum(1 for x in largest if x <= 10) / n),
        "exactly_one_large_group": _rounded(sum(1 for r in rows if r["large_groups"] == 1) / n),
        "fewer_than_four_large_groups": _rounded(sum(1 for r in rows if r["large_groups"] < 4) / n),
        "value_gt_1_eth": _rounded(sum(1 for v in values if v > ETH) / n),
        "value_median_eth": _rounded((median(values) or 0) / ETH),
    }
    free = [r["conflict_free"] / r["orders"] for r in rows if "conflict_free" in r and r["orders"]]
    if free:
        shape["conflict_free_orders"] = _rounded(median(free))
    return shape


def summarize(rows: Sequence[dict], algorithms: Sequence[str]) -> dict:
    summary = outcome_summary(rows, algorithms)
    summary["workload_shape"] = workload_shape(rows)
    summary["runtime_ms"] = runtime_summary(rows, algorithms)
    spread = [r for r in rows if "runtime_spread_ms" in r]
    if spread:  # per block (slowest − fastest) / median run, then its median over blocks
        summary["runtime_ms"]["relative_spread"] = {
            name: _rounded(median([(r["runtime_spread_ms"][name][1] - r["runtime_spread_ms"][name][0])
                                   / r["runtime_ms"][name] for r in spread if r["runtime_ms"][name]]), 4)
            for name in algorithms}
    failing = [r for r in rows if "top_failing_share" in r]
    if failing:
        summary["top_failing_share"] = {"median": {n: _rounded(median([r["top_failing_share"][n] for r in failing]))
                                                   for n in algorithms}}
    refunds = [r["refunds_ms"] for r in rows if "refunds_ms" in r]
    if refunds:
        summary["refunds_ms"] = {"median": _rounded(median(refunds), 3),
                                 "p99": _rounded(percentile(refunds, 99), 3)}
    summary["by_max_group"] = {}
    for label, _, _ in MAX_GROUP_BUCKETS:
        part = [r for r in rows if bucket_of(r["max_group"]) == label]
        if part:
            summary["by_max_group"][label] = outcome_summary(part, algorithms)
    summary["by_value_tercile"] = {}
    if rows:
        # Terciles of the best block value; equal values are split by block index.
        ranks = sorted(range(len(rows)), key=lambda k: (best_value(rows[k]), rows[k]["index"]))
        n = len(rows)
        for t, name in enumerate(TERCILES):
            part = [rows[k] for k in ranks[t * n // 3:(t + 1) * n // 3]]
            if part:
                entry = outcome_summary(part, algorithms)
                entry["value_range"] = [min(map(best_value, part)), max(map(best_value, part))]
                summary["by_value_tercile"][name] = entry
    return summary
