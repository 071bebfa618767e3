"""Plots of market simulations (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _label(report: dict) -> str:
    cfg = report["config"]
    return f"{cfg['policy']}, decay {cfg['decay']}"


def _rolling(values: list[float], width: int = 10) -> list[float]:
    out, acc = [], []
    for v in values:
        acc.append(v)
        if len(acc) > width:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def plot_market(reports: list[dict], out_dir: Path) -> list[Path]:
    """Four figures comparing the given runs; returns the PNG paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def series(report: dict, field: str, scale: float = 1.0) -> list[float]:
        return [(float(s[field]) if s[field] is not None else 0.0) * scale for s in report["slots"]]

    figures = [
        ("early_accept_share.png", "share of the slot's preconf bids accepted early (10-slot mean)",
         lambda r: _rolling([s["early"] / s["preconfBids"] if s["preconfBids"] else 0.0 for s in r["slots"]])),
        ("participation.png", "preconf bids per slot (10-slot mean)",
         lambda r: _rolling([float(s["preconfBids"]) for s in r["slots"]])),
        ("premium.png", "preconf premium over spot, ETH per slot (10-slot mean)",
         lambda r: _rolling(series(r, "premiumOverSpotWei", 1e-18))),
    ]
    for name, title, fn in figures:
        fig, ax = plt.subplots(figsize=(7, 4))
        for report in reports:
            ax.plot([s["slot"] for s in report["slots"]], fn(report), label=_label(report))
        ax.set_xlabel("slot")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        written.append(out_dir / name)

    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [_label(r) for r in reports]
    revenue = [int(r["summary"]["providerRevenueWei"]) / 1e18 for r in reports]
    ax.bar(range(len(reports)), revenue)
    ax.set_xticks(range(len(reports)), labels, rotation=15, fontsize=8)
    ax.set_ylabel("provider revenue, ETH (preconf + spot)")
    ax.set_ylim(min(revenue) * 0.95, max(revenue) * 1.02)
    fig.tight_layout()
    fig.savefig(out_dir / "revenue.png", dpi=110)
    plt.close(fig)
    written.append(out_dir / "revenue.png")
    return written
