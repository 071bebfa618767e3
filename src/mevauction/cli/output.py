"""Shared CLI output helpers: JSON to a file or stdout, wei formatting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mevauction.errors import InputError

WEI_PER_ETH = 10**18


def write_json(doc: object, target: str) -> None:
    """Write ``doc`` to ``target`` (``-`` = stdout) atomically: never half a file."""
    text = json.dumps(doc, indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    path = Path(target)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except OSError as exc:
        raise InputError(target, f"cannot write: {exc.strerror or exc}") from None


def fmt_wei(amount: int) -> str:
    """Wei as an exact decimal ETH string (integer arithmetic, no floats)."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), WEI_PER_ETH)
    frac_s = f"{frac:018d}".rstrip("0")
    return f"{sign}{whole}.{frac_s or '0'} ETH" if amount and abs(amount) >= 10**9 else f"{amount} wei"


def fmt_eth(amount: int, decimals: int = 6) -> str:
    """Wei as ETH rounded down to ``decimals`` places, for tables (integer arithmetic)."""
    scaled = abs(amount) // 10 ** (18 - decimals)
    whole, frac = divmod(scaled, 10**decimals)
    return f"{'-' if amount < 0 else ''}{whole}.{frac:0{decimals}d}"
