"""Random crossing orders for the TFHE tests, and the CLI as a subprocess."""

from __future__ import annotations

import random
import subprocess
import sys

from repo_paths import ROOT, SRC

ENV = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}


def orders(rng: random.Random, n: int, levels: int, bits: int) -> list[tuple[str, list[int]]]:
    """n random orders, alternately buy and sell, whose curves cross: each 1–3 steps below
    2^bits, buy steps in the upper two thirds of the grid, sell steps in the lower two thirds."""
    out = []
    for i in range(n):
        side = "buy" if i % 2 == 0 else "sell"
        inc = [0] * levels
        lo, hi = (levels // 3, levels) if side == "buy" else (0, 2 * levels // 3)
        for _ in range(rng.randrange(1, 4)):
            inc[rng.randrange(lo, hi)] = rng.randrange(1, 1 << bits)
        out.append((side, inc))
    return out


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=timeout)
