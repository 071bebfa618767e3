"""Execution worlds, looked up by the ``world.kind`` of a scenario.

Each world module exposes ``from_scenario(scenario: dict) -> World`` (raising
:class:`mevauction.errors.InputError` on bad input) and, if it can generate
workloads, ``generate(orders: int, seed: int, **options) -> dict`` returning a
``mevauction.scenario/1`` document. Every registered world is checked against the
contract of :mod:`mevauction.worlds.base` by tests/worlds/test_world_contract.py.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from mevauction.errors import InputError
from mevauction.worlds.base import (
    Access,
    Block,
    Cursor,
    Order,
    Outcome,
    StaleCursor,
    World,
)

WORLD_MODULES = {
    "table": "mevauction.worlds.table",
    "amm": "mevauction.worlds.amm",
    "evm": "mevauction.worlds.evm",
}

__all__ = ["Access", "Block", "Cursor", "Order", "Outcome", "StaleCursor", "World", "build_world", "world_module"]


def world_module(kind: Any) -> ModuleType:
    if kind not in WORLD_MODULES:
        raise InputError("world.kind", f"unknown world {kind!r} (known: {', '.join(WORLD_MODULES)})")
    return importlib.import_module(WORLD_MODULES[kind])


def build_world(scenario: dict) -> World:
    world = scenario.get("world")
    if not isinstance(world, dict):
        raise InputError("world", "missing or not an object")
    return world_module(world.get("kind")).from_scenario(scenario)
