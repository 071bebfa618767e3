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


PROFILES = ("mainnet", "contested")


def profile_options(kind: str, profile: str, field: str = "--profile") -> dict[str, Any]:
    """The generator options of a workload profile: ``{"profile": ...}`` for a generator
    that has profiles (amm, evm); one without them would make its one shape whatever
    the profile."""
    if profile not in PROFILES:
        raise InputError(field, f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    import inspect

    if "profile" in inspect.signature(generator_for(kind)).parameters:
        return {"profile": profile}
    return {}
