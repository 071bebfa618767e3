"""``mevauction sealed run|replay --backend 2pc``: the same bids and report formats on a
two-party garbled-circuit backend (``privacy.twoparty``) instead of the MPC committee.

The report is ``mevauction.sealed/1`` with ``"backend": "2pc"`` and ``"parties": 2``; it
has no signed transcript (the pair signs no statements yet): ``transcript`` is null.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from mevauction.errors import require

TWO_PARTY_MECHANISMS = ("first", "second", "builder", "topk")


def run_bids(mechanism: str, labels: list[str], amounts: list[int], reserve: int = 0, k: int = 1) -> dict[str, Any]:
    from mevauction.privacy.twoparty.local import LocalPair

    require(mechanism in TWO_PARTY_MECHANISMS, "--mechanism",
            f"--backend 2pc runs {', '.join(TWO_PARTY_MECHANISMS)} only")
    require(bool(amounts), "bids", "the two-party backend needs at least one bid")
    require(0 <= reserve < 1 << 64, "--reserve", "must be below 2^64")
    console = Console(stderr=True)
    with console.status(f"sealed {mechanism} auction: {len(amounts)} bids, 2 parties (garbled circuit)…"):
        with LocalPair() as pair:
            r = pair.run(mechanism, amounts, reserve, k=min(k, len(amounts)))
    winner = labels[r.winner] if r.ok and r.winner is not None else None
    return {"format": "mevauction.sealed/1", "mechanism": mechanism, "backend": "2pc", "parties": 2,
            "status": "ok" if r.ok else "aborted", **({"reason": r.reason} if not r.ok else {}),
            "winner": winner, "price": r.price if r.ok else None,
            "winners": [labels[i] for i in r.winners] if r.ok else [],
            "n_bids": len(amounts), "elapsed_s": round(r.elapsed_s, 6), "preprocess_s": round(r.preprocess_s, 6),
            "bytes_sent_per_party": max(r.bytes_sent) if r.bytes_sent else None,
            "bytes_sent_by_server": r.bytes_sent, "excluded": [], "rejected": [], "transcript": None}
