"""The workload contracts: Vyper sources in ``contracts/``, compiled on demand.

Sources live beside this module (packaged with it); ``contracts/README.md`` at the
repository root points here. Compilation uses the ``vyper`` compiler installed from
PyPI, targets the Cancun EVM, and is cached per (source hash, compiler version) in
``$MEVAUCTION_CACHE`` or ``~/.cache/mevauction/contracts`` so a slot generator
does not pay the compiler's ~1 s per contract twice.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from eth_abi import encode as abi_encode

from mevauction.eth.keccak import keccak

SOURCES = Path(__file__).with_name("contracts")
EVM_VERSION = "cancun"
NAMES = ("token", "weth", "pair", "router", "searcher")


@dataclass(frozen=True)
class Artifact:
    name: str
    initcode: bytes
    abi: tuple[dict, ...]

    def constructor_types(self) -> list[str]:
        for item in self.abi:
            if item.get("type") == "constructor":
                return [i["type"] for i in item["inputs"]]
        return []

    def deploy_code(self, *args) -> bytes:
        """Init code followed by the ABI-encoded constructor arguments."""
        return self.initcode + abi_encode(self.constructor_types(), list(args))


def _cache_dir() -> Path:
    root = os.environ.get("MEVAUCTION_CACHE") or Path.home() / ".cache" / "mevauction"
    return Path(root) / "contracts"


@cache
def artifact(name: str) -> Artifact:
    """Compile ``contracts/<name>.vy`` (or load the cached result)."""
    import vyper
    from vyper.compiler import compile_code
    from vyper.compiler.settings import Settings

    source = (SOURCES / f"{name}.vy").read_text()
    digest = hashlib.sha256(f"{vyper.__version__}\n{EVM_VERSION}\n{source}".encode()).hexdigest()[:24]
    cached = _cache_dir() / f"{name}-{digest}.json"
    if cached.exists():
        data = json.loads(cached.read_text())
    else:
        out = compile_code(source, contract_path=f"{name}.vy", output_formats=["bytecode", "abi"],
                           settings=Settings(evm_version=EVM_VERSION))
        data = {"bytecode": out["bytecode"], "abi": out["abi"]}
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    return Artifact(name, bytes.fromhex(data["bytecode"][2:]), tuple(data["abi"]))


def selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def calldata(signature: str, *args) -> bytes:
    """``selector(signature) || abi.encode(args)`` for a signature like ``f(address,uint256)``."""
    types = signature[signature.index("(") + 1:-1]
    return selector(signature) + abi_encode([t for t in types.split(",") if t], list(args))
