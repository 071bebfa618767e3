"""Contract build artifacts: the real npm ones and the project's own Vyper sources.

Two sources, one :class:`Artifact` shape (init code + ABI):

- :func:`npm` reads a build artifact from the pinned npm packages that
  ``scripts/setup.sh`` installs (Uniswap V2 core and periphery, canonical WETH9):
  the audited bytecode itself, never recompiled;
- :func:`vyper` compiles a ``.vy`` source with the ``vyper`` compiler from PyPI
  (Cancun EVM), cached per (source hash, compiler version) in ``$MEVAUCTION_CACHE``
  or ``~/.cache/mevauction/contracts`` so a generator does not pay the compiler's
  ~1 s per contract twice. The project's searcher contract for real pairs is
  ``contracts/searcher.vy`` beside this module.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mevauction.chain import tools
from mevauction.errors import InputError
from mevauction.eth.keccak import keccak

SOURCES = Path(__file__).with_name("contracts")
EVM_VERSION = "cancun"

# name -> (npm package, artifact path inside it)
NPM = {
    "WETH9": ("canonical-weth", "build/contracts/WETH9.json"),
    "ERC20": ("@uniswap/v2-core", "build/ERC20.json"),  # v2-core's test token: mints its supply to the deployer
    "UniswapV2Factory": ("@uniswap/v2-core", "build/UniswapV2Factory.json"),
    "UniswapV2Pair": ("@uniswap/v2-core", "build/UniswapV2Pair.json"),
    "UniswapV2Router02": ("@uniswap/v2-periphery", "build/UniswapV2Router02.json"),
}


@dataclass(frozen=True)
class Artifact:
    name: str
    initcode: bytes
    abi: tuple[dict[str, Any], ...]

    def constructor_types(self) -> list[str]:
        for item in self.abi:
            if item.get("type") == "constructor":
                return [i["type"] for i in item["inputs"]]
        return []

    def deploy_code(self, *args: Any) -> bytes:
        """Init code followed by the ABI-encoded constructor arguments."""
        from eth_abi import encode as abi_encode

        return self.initcode + abi_encode(self.constructor_types(), list(args))


def _hex(value: Any, where: str) -> bytes:
    if isinstance(value, dict):  # solc standard JSON: {"object": "..."}
        value = value.get("object")
    if not isinstance(value, str) or not value:
        raise InputError("chain", f"artifact {where} has no bytecode")
    return bytes.fromhex(value.removeprefix("0x"))


@cache
def npm(name: str) -> Artifact:
    """A real build artifact from the pinned npm packages (see ``NPM``)."""
    package, relative = NPM[name]
    data = json.loads(tools.artifact(package, relative).read_text())
    return Artifact(name, _hex(data.get("bytecode"), f"{package}/{relative}"), tuple(data["abi"]))


def pair_init_code_hash() -> bytes:
    """keccak256 of the pair's creation code: what CREATE2 in the factory uses."""
    return keccak(npm("UniswapV2Pair").initcode)


def router_pair_hash_matches() -> bool:
    """Whether Router02's hard-coded pair init-code hash (UniswapV2Library.pairFor) is this pair's.

    The router computes pair addresses itself instead of asking the factory, so a
    router built for another pair bytecode would route every swap to empty addresses.
    """
    return pair_init_code_hash() in npm("UniswapV2Router02").initcode


def _cache_dir() -> Path:
    root = os.environ.get("MEVAUCTION_CACHE") or Path.home() / ".cache" / "mevauction"
    return Path(root) / "contracts"


@cache
def vyper(path: Path) -> Artifact:
    """Compile a Vyper source (or load the cached result)."""
    import vyper as compiler
    from vyper.compiler import compile_code
    from vyper.compiler.settings import Settings

    source = path.read_text()
    digest = hashlib.sha256(f"{compiler.__version__}\n{EVM_VERSION}\n{source}".encode()).hexdigest()[:24]
    cached = _cache_dir() / f"{path.stem}-{digest}.json"
    if cached.exists():
        data = json.loads(cached.read_text())
    else:
        out = compile_code(source, contract_path=path.name, output_formats=["bytecode", "abi"],
                           settings=Settings(evm_version=EVM_VERSION))
        data = {"bytecode": out["bytecode"], "abi": out["abi"]}
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    return Artifact(path.stem, _hex(data["bytecode"], path.name), tuple(data["abi"]))


def searcher() -> Artifact:
    """The project's searcher contract for real Uniswap V2 pairs (arb, sandwich legs)."""
    return vyper(SOURCES / "searcher.vy")


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, *args: Any) -> bytes:
    """``selector(signature) || abi.encode(args)`` for a signature like ``f(address,uint256)``."""
    from eth_abi import encode as abi_encode

    types = signature[signature.index("(") + 1:-1]
    return selector(signature) + abi_encode([t for t in types.split(",") if t], list(args))


def decode(types: list[str], data: bytes) -> tuple[Any, ...]:
    from eth_abi import decode as abi_decode

    return tuple(abi_decode(types, data))
