"""Deadline-to-result latency of the TFHE double auction (``--backend tfhe``), with its
setup (compile, key generation, key transfer), key and ciphertext sizes, and the CPU time
each party spent, beside the plaintext clearing of the same orders in the same run.

For each shape (buy × sell orders, grid levels): random curves (each order 1–4 steps,
increments below 2^bits, buy steps in the upper two thirds of the grid, sell steps in the
lower two thirds, so the curves cross), one auction on fresh key holder and evaluator
processes (``privacy.tfhe.backend.run``), checked against ``mechanisms.clear_double``.
CPU seconds are the parties' process time (all threads): on a loaded machine they, not the
wall clock, tell what the run would take on two free cores (≈ CPU / 2 at best).

    PYTHONPATH=src python benchmarks/sealed_tfhe.py --shapes 64x64x256 [--bits 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from mevauction.privacy.mechanisms import clear_double
from mevauction.privacy.tfhe import backend


def orders(rng: random.Random, nb: int, ns: int, levels: int, bits: int) -> tuple[list[str], list[list[int]]]:
    sides = ["buy"] * nb + ["sell"] * ns
    rng.shuffle(sides)
    incs = []
    for s in sides:
        inc = [0] * levels
        lo, hi = (levels // 3, levels) if s == "buy" else (0, 2 * levels // 3)
        for _ in range(rng.randrange(1, 5)):
            inc[rng.randrange(lo, hi)] = rng.randrange(1, 1 << bits)
        incs.append(inc)
    return sides, incs


def one(shape: str, bits: int, seed: int) -> dict:
    nb, ns, levels = (int(x) for x in shape.split("x"))
    sides, incs = orders(random.Random(seed), nb, ns, levels, bits)
    t0 = time.perf_counter()
    want = clear_double(list(range(levels)), sides, incs)
    clear_s = time.perf_counter() - t0
    r = backend.run(sides, incs, bits)
    assert r.ok, r.reason
    k, e = r.keyholder, r.evaluator
    correct = (r.level, r.quantities) == (want.price, want.quantities)
    return {"shape": shape, "bits": bits, "correct": correct, "clearing_level": r.level, "traders": len(r.quantities),
            "deadline_to_result_s": round(r.elapsed_s, 3), "plaintext_s": round(clear_s, 6),
            "ratio_vs_plaintext": round(r.elapsed_s / clear_s) if clear_s else None,
            "setup_s": round(r.setup_s, 2), "compile_s": round(e["compile_s"], 2), "keygen_s": round(k["keygen_s"], 2),
            "encrypt_s": round(k["encrypt_s"], 3),
            "evaluate_s": {n: round(v, 3) for n, v in e["evaluate_s"].items()},
            "comparisons": len(k["opened"]["compare"]),
            "cpu_s": {"evaluator": {n: round(v, 2) for n, v in e["cpu_s"].items()},
                      "keyholder": {n: round(v, 2) for n, v in k["cpu_s"].items()}},
            "evaluation_key_bytes": sum(k["evaluation_key_bytes"]), "input_ciphertext_bytes": sum(k["input_bytes"]),
            "bytes_sent": {"keyholder": k["bytes_sent"], "evaluator": e["bytes_sent"]},
            "circuits": e["circuits"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["64x64x256"], help="BUYxSELLxLEVELS")
    ap.add_argument("--bits", type=int, default=1, help="bits of one increment (default 1)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    rows = []
    for shape in args.shapes:
        row = one(shape, args.bits, args.seed)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "circuits"}), flush=True)
        for name, c in row["circuits"].items():
            print(f"  {name}: {c}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
