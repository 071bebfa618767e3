"""Builder plug-ins: every block-building algorithm behind one interface.

A builder takes a world and the ids of the orders it may use (M \\ S in Fig. 3)
and returns a :class:`~mevauction.worlds.base.Block`. Algorithms are looked up by
name; modules are imported lazily so an optional backend costs nothing until used.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Protocol

from mevauction.errors import InputError
from mevauction.worlds.base import Block, World


class BlockBuilder(Protocol):
    name: str

    def build(self, world: World, order_ids: Sequence[str]) -> Block: ...


# name → "module:factory"; a factory takes keyword options (k_cutoff, seed, ...).
BUILDERS = {
    "default": "mevauction.building.default:DefaultBuilder",
    "paper": "mevauction.building.paper:PaperBuilder",
    "mgp-ordering": "mevauction.building.baselines.ordering:MevGasPriceOrdering",
    "mp-ordering": "mevauction.building.baselines.ordering:MaxProfitOrdering",
    "parallel": "mevauction.building.baselines.parallel:ParallelBuilder",
}


def make_builder(name: str, **options: Any) -> BlockBuilder:
    """Instantiate a built-in algorithm by name (options it does not take are ignored)."""
    if name not in BUILDERS:
        raise InputError("algorithm", f"unknown algorithm {name!r} (known: {', '.join(BUILDERS)})")
    module, factory = BUILDERS[name].split(":")
    try:
        cls = getattr(importlib.import_module(module), factory)
    except ImportError as exc:
        raise InputError("algorithm", f"algorithm {name!r} is not available in this install ({exc})") from None
    accepted = getattr(cls, "OPTIONS", ())
    builder: BlockBuilder = cls(**{k: v for k, v in options.items() if k in accepted})
    return builder
