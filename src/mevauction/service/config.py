"""Service configuration: defaults, then a TOML file, then ``MEVAUCTION_*`` env, then flags.

``world`` is a world kind (``table``, ``amm``, ``evm``) or the path of a JSON file
holding a world object (e.g. the pools of an ``amm`` world) or a whole scenario
whose ``world`` is used.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mevauction.errors import InputError, require


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 8545
    db: str = "sqlite:///mevauction.db"
    slot_seconds: float = 12.0
    world: str = "table"
    k_cutoff: int = 8
    block_gas_limit: int = 30_000_000
    max_body_bytes: int = 512 * 1024
    rate_per_signer: float = 2000.0  # requests per second, token bucket
    burst_per_signer: int = 4000
    max_slots_ahead: int = 64
    body_timeout: float = 10.0  # seconds a client may take to send its body
    identity: str = "mevauction"  # seeds this service's builder/proposer identifiers

    def world_object(self) -> dict:
        """The slot world as a scenario ``world`` object."""
        if self.world in ("table", "amm", "evm"):
            return {"kind": self.world}
        path = Path(self.world)
        require(path.is_file(), "world", f"{self.world!r} is neither a world kind nor a JSON file")
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError("world", f"cannot read {self.world}: {exc}") from None
        world = doc.get("world", doc) if isinstance(doc, dict) else None
        require(isinstance(world, dict) and isinstance(world.get("kind"), str), "world", "file has no world object")
        return world


def _coerce(name: str, value: Any, kind: type) -> Any:
    try:
        if kind is bool:
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        result = kind(value)
    except (TypeError, ValueError):
        raise InputError(name, f"must be a {kind.__name__}, got {value!r}") from None
    if kind in (int, float):
        require(result > 0 or (name.endswith("port") and result == 0), name, "must be positive")
    return result


def load_config(flags: dict[str, Any], toml_path: str | None = None, env: dict[str, str] | None = None) -> ServiceConfig:
    """Merge the sources in increasing precedence; unknown TOML keys are an error."""
    env = os.environ if env is None else env
    types = {f.name: type(f.default) for f in fields(ServiceConfig)}
    values: dict[str, Any] = {}
    toml_path = toml_path or env.get("MEVAUCTION_CONFIG")
    if toml_path:
        try:
            doc = tomllib.loads(Path(toml_path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError("config", f"cannot read {toml_path}: {exc}") from None
        table = doc.get("serve", doc)
        for key, value in table.items():
            name = key.replace("-", "_")
            require(name in types, f"config.{key}", "unknown setting")
            values[name] = _coerce(f"config.{key}", value, types[name])
    for name, kind in types.items():
        text = env.get(f"MEVAUCTION_{name.upper()}")
        if text is not None:
            values[name] = _coerce(f"MEVAUCTION_{name.upper()}", text, kind)
    for name, value in flags.items():
        if value is not None and name in types:
            values[name] = _coerce(f"--{name.replace('_', '-')}", value, types[name])
    config = replace(ServiceConfig(), **values)
    config.world_object()  # fail early on a bad --world
    return config
