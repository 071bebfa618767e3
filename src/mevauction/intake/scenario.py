"""The scenario file (``mevauction.scenario/1``, spec/auction-cli.md § 1).

A scenario is one slot's auction input: orders, builder submissions, and the world
the orders execute in. Parsing validates everything up front so that a bad file
fails with one line naming the field, before any auction work starts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mevauction.building.default import K_CUTOFF
from mevauction.errors import InputError, as_wei, require
from mevauction.mechanism.auction import BuilderAuction
from mevauction.mechanism.boost import AuctionInput, Report, run_auction
from mevauction.mechanism.builders import BuilderSubmission
from mevauction.mechanism.commitments import BASES, BOTTOM, TOP, CommittedBundle, Position
from mevauction.sandbox.jail import Limits, Program
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.warm import WarmJails
from mevauction.worlds import World, build_world
from mevauction.worlds.base import Order

SCENARIO_FORMAT = "mevauction.scenario/1"


@dataclass(slots=True)
class Scenario:
    world: World
    builders: list[BuilderSubmission]
    block_gas_limit: int
    seed: int
    raw: dict[str, Any]
    commitments: tuple[CommittedBundle, ...] = ()

    @property
    def orders(self) -> dict[str, Order]:
        return self.world.orders

    @property
    def auction_input(self) -> AuctionInput:
        """What the mechanism needs of this slot (it knows nothing of scenario files)."""
        return AuctionInput(self.world, tuple(self.builders), self.seed, self.block_gas_limit,
                            commitments=self.commitments)

    def run_auction(self, k_cutoff: int = K_CUTOFF, builder_auction: BuilderAuction | None = None,
                    algorithm_limits: Limits | None = None,
                    algorithm_sealing: Mapping[str, Sealing] | None = None,
                    algorithm_warm: WarmJails | None = None) -> Report:
        """The Boost+ auction (seed 004 Fig. 3) of this slot; submitted algorithms within ``algorithm_limits``
        (``algorithm_sealing``: a sealed slot's, per algorithm; ``algorithm_warm``: its jails started ahead)."""
        slot = AuctionInput(self.world, tuple(self.builders), self.seed, self.block_gas_limit,
                            algorithm_limits=algorithm_limits, commitments=self.commitments,
                            algorithm_sealing=algorithm_sealing, algorithm_warm=algorithm_warm)
        return run_auction(slot, k_cutoff=k_cutoff, builder_auction=builder_auction)


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning I/O and syntax problems into one-line errors."""
    try:
        text = Path(path).read_text() if str(path) != "-" else __import__("sys").stdin.read()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(str(path), f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


MAX_PROGRAM_BYTES = 1 << 20  # a submitted algorithm's code
RUNTIMES = {"script": "python", "wasm": "wasm"}


def read_program(path: Any, where: str, base: Path) -> Program:
    """A scenario's ``script`` / ``wasm`` file (relative paths: from the scenario's directory)."""
    require(isinstance(path, str) and path != "", where, "must be a file path")
    file = Path(path) if Path(path).is_absolute() else base / path
    try:
        size = file.stat().st_size
        require(size <= MAX_PROGRAM_BYTES, where, f"is {size} bytes, more than {MAX_PROGRAM_BYTES}")
        code = file.read_bytes()
    except OSError as exc:
        raise InputError(where, f"cannot read {path}: {exc.strerror or exc}") from None
    return Program(RUNTIMES[where.rsplit(".", 1)[1]], code, file.name)


def parse_builders(raw: Any, base: Path | None = None) -> list[BuilderSubmission]:
    require(isinstance(raw, list), "builders", "must be a list")
    seen: set[str] = set()
    out = []
    for index, obj in enumerate(raw):
        where = f"builders[{index}]"
        require(isinstance(obj, dict), where, "must be an object")
        bid_ = obj.get("id")
        require(isinstance(bid_, str) and bid_ != "", f"{where}.id", "missing or not a non-empty string")
        require(bid_ not in seen and bid_ != "default", f"{where}.id", f"duplicate or reserved builder id {bid_!r}")
        seen.add(bid_)
        algorithm = obj.get("algorithm")
        block = obj.get("block")
        kinds = [k for k in ("algorithm", "block", "script", "wasm") if obj.get(k) is not None]
        require(len(kinds) == 1, where, "needs exactly one of 'algorithm', 'block', 'script' or 'wasm'")
        if kinds[0] in RUNTIMES:
            # Only a scenario read from a file names files: a document handed over in
            # memory (the service's slots) can never make the auction read a path.
            require(base is not None, f"{where}.{kinds[0]}", "file paths are only read from scenario files")
            assert base is not None
            program = read_program(obj[kinds[0]], f"{where}.{kinds[0]}", base)
            require(obj.get("bid", "truthful") == "truthful", f"{where}.bid",
                    "is returned by the algorithm itself (leave it out)")
            deposit = as_wei(obj.get("deposit", 0), f"{where}.deposit")
            out.append(BuilderSubmission(bid_, None, None, None, program, deposit))
            continue
        if algorithm is not None:
            require(isinstance(algorithm, str), f"{where}.algorithm", "must be a string")
        if block is not None:
            require(isinstance(block, list) and all(isinstance(x, str) for x in block),
                    f"{where}.block", "must be a list of order ids")
            block = tuple(block)
        raw_bid = obj.get("bid", "truthful")
        bid = None if raw_bid == "truthful" else as_wei(raw_bid, f"{where}.bid")
        out.append(BuilderSubmission(bid_, algorithm, block, bid))
    return out


def parse_commitments(raw: Any) -> tuple[CommittedBundle, ...]:
    """``commitments``: preconfirmed bundles the block must keep (mechanism/commitments.py)."""
    require(isinstance(raw, list), "commitments", "must be a list")
    out = []
    for k, obj in enumerate(raw):
        where = f"commitments[{k}]"
        require(isinstance(obj, dict), where, "must be an object")
        order = obj.get("order")
        require(isinstance(order, str) and order != "", f"{where}.order", "missing or not a non-empty string")
        anchor = obj.get("anchor", TOP)
        require(anchor in (TOP, BOTTOM), f"{where}.anchor", "must be 'top' or 'bottom'")
        position, basis = _position(obj, where)
        more = obj.get("more_positions", [])
        require(isinstance(more, list) and all(isinstance(m, dict) for m in more) and
                (position is not None or not more), f"{where}.more_positions",
                "must be a list of {anchor, position, basis} objects, after a first position")
        further = []
        for i, m in enumerate(more):
            at = f"{where}.more_positions[{i}]"
            require(m.get("anchor") in (TOP, BOTTOM), f"{at}.anchor", "must be 'top' or 'bottom'")
            value, kind = _position(m, at)
            require(value is not None, f"{at}.position", "is missing")
            further.append(Position(m["anchor"], value, kind))  # type: ignore[arg-type]
        digest = obj.get("commitment", "")
        require(isinstance(digest, str) and len(digest) <= 130, f"{where}.commitment", "must be a short string")
        out.append(CommittedBundle(order, anchor, position, digest, basis, tuple(further)))
    return tuple(out)


def _position(obj: dict, where: str) -> tuple[int | None, str]:
    """A commitment's ``position`` (optional) and ``basis``."""
    position = obj.get("position")
    require(position is None or (isinstance(position, int) and not isinstance(position, bool)
                                 and 0 <= position < 2**31), f"{where}.position",
            "must be a non-negative integer below 2^31")
    basis = obj.get("basis", "absolute")
    require(basis in BASES, f"{where}.basis", f"must be one of {', '.join(BASES)}")
    return position, basis


def parse_scenario(doc: Any, base: Path | None = None) -> Scenario:
    require(isinstance(doc, dict), "scenario", "must be a JSON object")
    fmt = doc.get("format", SCENARIO_FORMAT)
    require(fmt == SCENARIO_FORMAT, "format", f"expected {SCENARIO_FORMAT!r}, got {fmt!r}")
    gas_limit = doc.get("block_gas_limit", 30_000_000)
    require(isinstance(gas_limit, int) and not isinstance(gas_limit, bool) and gas_limit > 0,
            "block_gas_limit", "must be a positive integer")
    seed = doc.get("seed", 0)
    require(isinstance(seed, int) and not isinstance(seed, bool), "seed", "must be an integer")
    builders = parse_builders(doc.get("builders", []), base)
    world = build_world(doc)
    commitments = parse_commitments(doc.get("commitments", []))
    known = set(world.orders)
    for k, c in enumerate(commitments):
        require(c.order in known, f"commitments[{k}].order", f"names unknown order {c.order!r}")
    return Scenario(world, builders, gas_limit, seed, doc, commitments)


def load_scenario(path: str | Path) -> Scenario:
    base = Path.cwd() if str(path) == "-" else Path(path).resolve().parent
    return parse_scenario(read_json(path), base)
