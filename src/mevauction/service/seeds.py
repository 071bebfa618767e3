"""Per-slot secret seeds for the default algorithm (mechanism/seed.py says why).

The service keeps one 32-byte secret, in a file beside a SQLite database (mode 0600,
made on first start) or, for other databases, in memory for this run; each slot's
seed is derived from it, so a restart keeps every published commitment true.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mevauction.mechanism.seed import derive_seed, seed_commitment

SECRET_BYTES = 32


def secret_file_for(db_url: str) -> Path | None:
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url[len(prefix):] not in ("", ":memory:"):
        return Path(db_url[len(prefix):] + ".seed")
    return None


def load_secret(path: Path | None) -> bytes:
    if path is None:
        return secrets.token_bytes(SECRET_BYTES)
    try:
        data = path.read_bytes()
        if len(data) == SECRET_BYTES:
            return data
    except FileNotFoundError:
        pass
    data = secrets.token_bytes(SECRET_BYTES)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return data


class SlotSeeds:
    def __init__(self, db_url: str):
        self._secret = load_secret(secret_file_for(db_url))

    def seed(self, slot: int) -> int:
        return derive_seed(self._secret, slot)

    def commitment(self, slot: int) -> str:
        return seed_commitment(slot, self.seed(slot))

    def revealed(self, slot: int) -> dict[str, str]:
        """What a settled slot's report carries: the seed (decimal) and its commitment."""
        return {"value": str(self.seed(slot)), "commitment": self.commitment(slot)}
