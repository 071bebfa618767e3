"""Where the pinned chain tools are: anvil, cast and the npm contract artifacts.

``scripts/setup.sh`` installs them from ``tools/chain/package-lock.json`` into
``tools/chain/node_modules``. ``MEVAUCTION_CHAIN_TOOLS`` points at another
``node_modules`` (an installed package has no repository around it); ``anvil`` and
``cast`` on ``PATH`` are the last resort.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mevauction.errors import InputError

REPO_TOOLS = Path(__file__).resolve().parents[3] / "tools" / "chain" / "node_modules"


def node_modules() -> Path:
    """The node_modules directory that holds the chain tools and artifacts."""
    override = os.environ.get("MEVAUCTION_CHAIN_TOOLS")
    return Path(override) if override else REPO_TOOLS


def binary(name: str) -> str:
    """Path of the ``anvil`` or ``cast`` binary; InputError naming it when absent."""
    candidate = node_modules() / ".bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise InputError("chain", f"{name} not found: run scripts/setup.sh (installs it into {REPO_TOOLS})")


def artifact(package: str, relative: str) -> Path:
    """A contract build artifact inside an npm package, e.g. ("@uniswap/v2-core", "build/UniswapV2Pair.json")."""
    path = node_modules() / package / relative
    if not path.exists():
        raise InputError("chain", f"artifact {package}/{relative} not found: run scripts/setup.sh")
    return path
