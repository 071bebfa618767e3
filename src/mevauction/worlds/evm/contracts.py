"""The look-alike workload contracts of the generated-state evm world.

Vyper sources in ``contracts/`` beside this module (``contracts/README.md`` at the
repository root points here), compiled by :func:`mevauction.chain.contracts.vyper`.
The real contracts (Uniswap V2, WETH9) and the searcher for real pairs are in
:mod:`mevauction.chain.contracts`.
"""

from __future__ import annotations

from pathlib import Path

from mevauction.chain.contracts import Artifact, calldata, selector, vyper

SOURCES = Path(__file__).with_name("contracts")
NAMES = ("token", "weth", "pair", "router", "searcher")


def artifact(name: str) -> Artifact:
    """Compile ``contracts/<name>.vy`` (or load the cached result)."""
    return vyper(SOURCES / f"{name}.vy")


__all__ = ["NAMES", "SOURCES", "Artifact", "artifact", "calldata", "selector"]
