"""Workload generators: realistic slots written as ``mevauction.scenario/1`` documents.

One generator per world that has one, looked up by the world's kind and imported
lazily (the evm generator needs the optional pyrevm extra). Each exposes
``generate(orders, seed, **options) -> dict``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from mevauction.errors import InputError

GENERATORS = {
    "amm": "mevauction.intake.workloads.amm",
    "evm": "mevauction.intake.workloads.uniswap",  # real Uniswap V2 on a devnet (evm.py: look-alikes)
}


def generator_for(kind: str, field: str = "world.kind") -> Callable[..., dict[str, Any]]:
    """The ``generate`` function of ``kind``'s workload; InputError naming ``field`` if none."""
    if kind not in GENERATORS:
        raise InputError(field, f"no scenario generator for the {kind!r} world (have: {', '.join(GENERATORS)})")
    try:
        module = importlib.import_module(GENERATORS[kind])
    except ModuleNotFoundError as exc:
        raise InputError(field, f"the {kind!r} generator is not available in this installation ({exc.name})") from None
    generate: Callable[..., dict[str, Any]] = module.generate
    return generate


def generate(kind: str, orders: int, seed: int, **options: Any) -> dict[str, Any]:
    """A generated slot of ``orders`` orders of world ``kind``."""
    return generator_for(kind)(orders, seed, **options)
