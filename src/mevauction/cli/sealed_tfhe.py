"""``mevauction sealed run --backend tfhe --mechanism double``: the double auction in TFHE
between two non-colluding servers (``privacy.tfhe``): a key holder that never sees a single
trader's ciphertext and an evaluator that never holds a decryption key.

Same ``mevauction.bids/1`` input and ``mevauction.sealed/1`` report as the other backends,
with ``"backend": "tfhe"``, each trader's quantity at the clearing price, and the setup
(compile, key generation, key transfer, base OTs) reported apart from deadline → result.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from mevauction.errors import require


def check(args: Any) -> None:
    require(args.mechanism == "double", "--mechanism", "the tfhe backend runs the double auction only")
    from mevauction.privacy.tfhe.backend import fhe_python

    fhe_python()


def run_double(bids: list[Any], grid: list[int], bits: int) -> dict[str, Any]:
    from mevauction.privacy.tfhe.backend import run

    for i, b in enumerate(bids):
        require(all(v < 1 << bits for v in b.values), f"bids[{i}].curve",
                f"with --backend tfhe the quantities at one price must sum below 2^{bits} (--quantity-bits)")
    labels = [b.bidder for b in bids]
    with Console(stderr=True).status(f"sealed double auction: {len(bids)} orders × {len(grid)} levels, "
                                     "TFHE key holder + evaluator…"):
        r = run([b.side for b in bids], [list(b.values) for b in bids], bits)
    k, e = r.keyholder, r.evaluator
    circuits = e.get("circuits", {})
    return {"format": "mevauction.sealed/1", "mechanism": "double", "backend": "tfhe", "parties": 2,
            "status": "ok" if r.ok else "aborted", **({"reason": r.reason} if not r.ok else {}),
            "winner": None, "price": grid[r.level] if r.ok and r.level is not None else None,
            "winners": [labels[i] for i in sorted(r.quantities)],
            "quantities": {labels[i]: q for i, q in sorted(r.quantities.items())},
            "n_bids": len(bids), "levels": len(grid), "quantity_bits": bits,
            "elapsed_s": round(r.elapsed_s, 6), "preprocess_s": round(r.setup_s, 6),
            "compile_s": e.get("compile_s"), "keygen_s": k.get("keygen_s"),
            "after_deadline_s": {"keyholder": k.get("after_deadline", {}).get("wall_s"),
                                 "evaluator": e.get("after_deadline", {}).get("wall_s")},
            "evaluation_key_bytes": k.get("evaluation_key_bytes"),
            "input_ciphertext_bytes": k.get("input_bytes"),
            "bootstraps": {name: c.get("bootstraps") for name, c in circuits.items()},
            "bytes_sent_per_party": max(k.get("bytes_sent", 0), e.get("bytes_sent", 0)) or None,
            "bytes_sent_by_server": [k.get("bytes_sent"), e.get("bytes_sent")],
            "excluded": [{"bidder": labels[i], "reason": why} for i, why in sorted(r.rejected.items())],
            "rejected": [], "transcript": None}
