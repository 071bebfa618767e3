"""Deadline-to-result latency of the TFHE double auction (``--backend tfhe``), with its
setup (compile, key generation, key transfer, base OTs, warm-up), key and ciphertext
sizes, and each party's wall and CPU time per step after the deadline (rejections swap,
OT conversion, sums, each comparison's encryption / evaluation / decryption, openings),
beside the plaintext clearing of the same orders in the same run.

For each shape (buy × sell orders, grid levels): random curves (each order 1–4 steps,
increments below 2^bits, buy steps in the upper two thirds of the grid, sell steps in the
lower two thirds, so the curves cross), one auction on fresh key holder and evaluator
processes (``privacy.tfhe.backend.run``), checked against ``mechanisms.clear_double``.
CPU seconds are the parties' process time (all threads): on a loaded machine they, not the
wall clock, tell what the run would take on two free cores. A party's "…_wait" step is
time spent waiting for the other party (its work shows in the other one's steps).

With ``--intake`` each shape also runs with traders submitting their own shares
(``TfheAuction`` + ``trader.submit_curve``, one trader after another, each to both
parties' TLS intakes), in the same run: its row says ``"intake": true`` and the mean
seconds per trader's submission. With ``--served`` each shape also runs on a long-lived
pair (``sealed party serve --backend tfhe``: K and E started once, before the first
shape, each with its own pinned identity; ``privacy.tfhe.remote.LocalServedPair``),
traders submitting, in the same run: its row says ``"served": true``; deadline → result
there is from the auctioneer's signed close to both parties' signed outcomes.

    PYTHONPATH=src python benchmarks/sealed_tfhe.py --shapes 64x64x256 [--bits 1] [--intake] [--served] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import secrets
import tempfile
import time
from pathlib import Path

from mevauction.privacy import messages
from mevauction.privacy.mechanisms import clear_double
from mevauction.privacy.tfhe import backend, trader
from mevauction.privacy.tfhe.remote import LocalServedPair


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


def submitted(sides: list[str], incs: list[list[int]], bits: int) -> tuple[backend.TfheResult, list[int], float]:
    """The auction with each trader sealing its own curve: (result, the traders' indices in
    the parties' order, mean seconds per submission)."""
    keys = [messages.new_key() for _ in sides]
    with backend.TfheAuction(len(incs[0]), bits, max_bids=len(sides)) as auction:
        t0 = time.perf_counter()
        for side, inc, key in zip(sides, incs, keys, strict=True):
            sub = trader.submit_curve(auction.access, auction.auction, side, inc, bits, key, signers=auction.signers)
            assert sub.ok, sub.refused
        per_trader = (time.perf_counter() - t0) / len(sides)
        r = auction.close()
    index = {messages.address(k): i for i, k in enumerate(keys)}
    return r, [index[b] for b in r.bidders], per_trader


def served(pair: LocalServedPair, sides: list[str], incs: list[list[int]],
           bits: int) -> tuple[backend.TfheResult, list[int], float]:
    """``submitted`` on the long-lived pair: open (setup), traders submit, close."""
    client = pair.client()
    auction = "0x" + secrets.token_hex(16)
    keys = [messages.new_key() for _ in sides]
    t0 = time.perf_counter()
    k_ready, e_ready = client.open(auction, list(range(len(incs[0]))), bits, len(sides))
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for side, inc, key in zip(sides, incs, keys, strict=True):
        sub = trader.submit_curve(client.access, auction, side, inc, bits, key, signers=client.signers)
        assert sub.ok, sub.refused
    per_trader = (time.perf_counter() - t0) / len(sides)
    r = client.close(auction)
    assert r.ok, r.reason
    r.setup_s, r.keyholder, r.evaluator = setup_s, {**k_ready, **r.keyholder}, {**e_ready, **r.evaluator}
    index = {messages.address(k): i for i, k in enumerate(keys)}
    return r, [index[b] for b in r.bidders], per_trader


def one(shape: str, bits: int, seed: int, intake: bool = False, pair: LocalServedPair | None = None) -> dict:
    nb, ns, levels = (int(x) for x in shape.split("x"))
    sides, incs = orders(random.Random(seed), nb, ns, levels, bits)
    per_trader = None
    if intake or pair is not None:
        r, order, per_trader = submitted(sides, incs, bits) if pair is None else served(pair, sides, incs, bits)
        sides, incs = [sides[i] for i in order], [incs[i] for i in order]
    t0 = time.perf_counter()
    want = clear_double(list(range(levels)), sides, incs)
    clear_s = time.perf_counter() - t0
    if not intake and pair is None:
        r = backend.run(sides, incs, bits)
    assert r.ok, r.reason
    k, e = r.keyholder, r.evaluator
    correct = (r.level, r.quantities) == (want.price, want.quantities)
    kd, ed = k["after_deadline"], e["after_deadline"]
    return {"shape": shape, "bits": bits, "intake": intake or pair is not None, "served": pair is not None,
            "submit_s_per_trader": per_trader and round(per_trader, 4),
            "correct": correct, "clearing_level": r.level, "traders": len(r.quantities),
            "deadline_to_result_s": round(r.elapsed_s, 3), "plaintext_s": round(clear_s, 6),
            "ratio_vs_plaintext": round(r.elapsed_s / clear_s) if clear_s else None,
            "comparisons": len(k["opened"]["compare"]), "width_bits": k["width"],
            # after the deadline, per step: wall seconds (CPU beside), each party's own clock
            "close_read_after_s": {"keyholder": k.get("close_read_after_s"), "evaluator": e.get("close_read_after_s")},
            "keyholder_after_deadline": _steps(kd), "evaluator_after_deadline": _steps(ed),
            "setup_s": round(r.setup_s, 2),
            "setup": {"keyholder": _steps(k["setup"]), "evaluator": _steps(e["setup"])},
            "evaluation_key_bytes": k["evaluation_key_bytes"], "probe_ciphertext_bytes": k["input_bytes"],
            "bytes_sent": {"keyholder": k["bytes_sent"], "evaluator": e["bytes_sent"]},
            "circuits": e["circuits"]}


def _steps(clock: dict) -> dict[str, str]:
    return {step: f"{wall:.3f} ({clock['cpu_s'][step]:.3f} cpu)" for step, wall in clock["wall_s"].items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["64x64x256"], help="BUYxSELLxLEVELS")
    ap.add_argument("--bits", type=int, default=1, help="bits of one increment (default 1)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--intake", action="store_true", help="also run each shape with traders submitting directly")
    ap.add_argument("--served", action="store_true",
                    help="also run each shape on a long-lived pair (sealed party serve), traders submitting")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    rows = []
    with contextlib.ExitStack() as stack:
        pair = None
        if args.served:  # started once: its processes' start is no auction's cost
            where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mevauction-tfhe-served-")))
            pair = stack.enter_context(LocalServedPair(where, timeout=900.0))
        for shape in args.shapes:
            runs = [(False, None)] + ([(True, None)] if args.intake else []) + ([(True, pair)] if pair else [])
            for intake, on in runs:
                row = one(shape, args.bits, args.seed, intake, on)
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "circuits"}), flush=True)
                for name, c in row["circuits"].items():
                    print(f"  {name}: {c}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
