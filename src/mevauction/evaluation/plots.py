"""Figures of a bench run: analogues of Boost+ paper Fig. 6 and Fig. 7.

- ``win_share_by_max_group.png`` (Fig. 6): blocks per largest-conflict-group bucket,
  and in how many of them each algorithm built the best block;
- ``runtime_cdf.png`` (Fig. 7): CDF of each algorithm's runtime per block, plus the
  default algorithm together with all its counterfactual blocks (refunds).
"""

from __future__ import annotations

from pathlib import Path

from mevauction.evaluation.summary import MAX_GROUP_BUCKETS, bucket_of, is_best


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_win_share(doc: dict, path: Path) -> None:
    plt = _pyplot()
    rows = doc["blocks"]
    algorithms = doc["params"]["algorithms"]
    labels = [label for label, _, _ in MAX_GROUP_BUCKETS]
    totals = [sum(1 for r in rows if bucket_of(r["max_group"]) == label) for label in labels]
    width = 0.8 / (len(algorithms) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = range(len(labels))
    ax.bar([x - 0.4 + width / 2 for x in xs], totals, width, label="blocks", color="#9e9e9e")
    for k, name in enumerate(algorithms):
        wins = [sum(1 for r in rows if bucket_of(r["max_group"]) == label and is_best(r, name))
                for label in labels]
        ax.bar([x - 0.4 + width * (k + 1.5) for x in xs], wins, width, label=f"{name} best")
    ax.set_xticks(list(xs), labels)
    ax.set_xlabel("largest conflict group in the block (orders)")
    ax.set_ylabel("blocks")
    p = doc["params"]
    ax.set_title(f"Best block by largest group — {p['world']}, {p['blocks']} blocks × {p['orders']} orders")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_runtime_cdf(doc: dict, path: Path) -> None:
    plt = _pyplot()
    rows = doc["blocks"]
    series = {name: [r["runtime_ms"][name] for r in rows] for name in doc["params"]["algorithms"]}
    if rows and "refunds_ms" in rows[0]:
        series["default + refunds"] = [r["refunds_ms"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, times in series.items():
        xs = sorted(times)
        n = len(xs)
        ax.step(xs, [(k + 1) / n for k in range(n)], where="post", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("runtime per block (ms, log scale)")
    ax.set_ylabel("fraction of blocks")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Runtime CDF per algorithm (busy shared 2-core machine)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_plots(doc: dict, directory: str | Path) -> list[Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "win_share_by_max_group.png", out / "runtime_cdf.png"]
    plot_win_share(doc, paths[0])
    plot_runtime_cdf(doc, paths[1])
    return paths
