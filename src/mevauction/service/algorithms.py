"""Builders' submitted algorithms on the service (``mev_submitAlgorithm``; issue 13 items 3-4).

The rules (docs/service.md, "Submitted algorithms"):

- Only a registered builder (service/builders.py) may submit, signed like any builder
  request and carrying a signed ``timestamp`` (the replay guard, service/replay.py).
- ``version`` is an integer that must exceed the builder's last accepted one: an old
  submission sent again, or one signed earlier and delivered late, is refused naming
  ``version`` (and, while fresh, the exact request again is refused by the replay guard).
  The versions are on disk, so this holds across restarts.
- ``code`` is at most :data:`MAX_CODE_BYTES` once decoded (text, or ``codeBase64``);
  ``runtime`` is ``python`` or ``wasm``.
- A version is acknowledged only once its row is committed, and runs from the slot
  *after* the one open when it was accepted (``fromSlot`` in the ack), never in the open
  slot: a builder must not be able to swap its algorithm after watching that slot's
  flow arrive (its own orders, the mempool, preconfirmations): what runs at a deadline
  was fixed before the slot opened.
- At each deadline every registered builder's latest version for that slot runs in the
  sandbox (mevauction.sandbox) on M \\ S of the slot's own world, within
  ``algorithm_budget_ms``, inside the settlement worker; its block passes the same
  checks as any builder block, its bid is capped by the builder's free deposit, and a
  failure is the builder's entry in the report, with its reason. A builder that sent a
  bid for the slot (``mev_sendBuilderBid``) is judged on that bid: its algorithm does not
  run in that slot.
- With ``--sealed`` the bid never reaches the service: the slot message tells the jail
  the committee's pinned member keys and what the envelopes bind (the slot's auction id
  and a label: the address of a key the worker derives for that slot and builder from the
  service's persistent seal secret, :func:`seal_key`); the algorithm seals its bid in the
  jail (``sandbox/guest/mevseal.py``) and returns the commitment, share hashes and
  envelopes; the worker signs the header with that key and forwards it to the committee
  as the builder's sealed bid, capped by its free deposit inside the MPC (:func:`sealing`).
  A wasm module runs in the jail too there, under a host program that seals its bid
  the same way (``sandbox/guest/wasmhost.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from mevauction.errors import InputError, require
from mevauction.eth.keccak import keccak
from mevauction.eth.secp256k1 import private_key
from mevauction.sandbox.jail import Limits, Program
from mevauction.sandbox.warm import WarmJails
from mevauction.service.intake import single_params
from mevauction.service.schema import algorithms as table
from mevauction.service.slotstate import now_ms
from mevauction.service.store import Db

if TYPE_CHECKING:
    from mevauction.intake.scenario import Scenario
    from mevauction.mechanism.builders import BuilderSubmission
    from mevauction.privacy.twoparty.relay import Slot
    from mevauction.sandbox.protocol import Sealing
    from mevauction.service.builders import BuilderRegistry
    from mevauction.service.engine import Auctioneer

MAX_CODE_BYTES = 256 * 1024  # decoded; as base64 it still fits the default 512 KiB body
MAX_VERSION = (1 << 63) - 1
RUNTIMES = ("python", "wasm")
PROGRAM_KEY = "program"  # a scenario builder entry that names a submitted algorithm


@dataclass(frozen=True, slots=True)
class AlgorithmRecord:
    builder: str
    version: int
    runtime: str
    code: bytes
    sha256: str
    from_slot: int
    received_ms: int

    def program(self) -> Program:
        return Program(self.runtime, self.code, f"{self.builder}-v{self.version}")

    def status(self) -> dict:
        return {"builder": self.builder, "version": self.version, "runtime": self.runtime, "sha256": self.sha256,
                "bytes": len(self.code), "fromSlot": hex(self.from_slot)}


@dataclass(frozen=True, slots=True)
class SlotPrograms:
    """What the settlement worker needs to run a slot's algorithms (picklable)."""

    budget_ms: int
    programs: dict[str, Program] = field(default_factory=dict)  # builder → its code
    slot: int | None = None  # the slot they run in (the warm jails started for it: prestart)

    def limits(self) -> Limits:
        return Limits(budget_ms=self.budget_ms)


def parse_submission(params: Any) -> tuple[str, bytes, int]:
    """``[{"runtime", "code" | "codeBase64", "version", "timestamp"}]`` → (runtime, code, version)."""
    obj = single_params(params, "mev_submitAlgorithm")
    runtime = obj.get("runtime")
    require(runtime in RUNTIMES, "runtime", f"must be one of {', '.join(RUNTIMES)}")
    version = obj.get("version")
    require(isinstance(version, int) and not isinstance(version, bool) and 0 < version <= MAX_VERSION,
            "version", f"must be an integer from 1 to {MAX_VERSION}")
    text, b64 = obj.get("code"), obj.get("codeBase64")
    require((text is None) != (b64 is None), "code", "give exactly one of 'code' (text) or 'codeBase64'")
    if text is not None:
        require(isinstance(text, str), "code", "must be a string")
        code = text.encode()
        name = "code"
    else:
        require(isinstance(b64, str), "codeBase64", "must be a base64 string")
        assert isinstance(b64, str)
        require(len(b64) <= (MAX_CODE_BYTES + 2) // 3 * 4, "codeBase64", f"decodes to more than {MAX_CODE_BYTES} bytes")
        try:
            code = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("codeBase64", "is not valid base64") from None
        name = "codeBase64"
    require(0 < len(code) <= MAX_CODE_BYTES, name, f"is {len(code)} bytes; must be 1 to {MAX_CODE_BYTES}")
    assert isinstance(runtime, str) and isinstance(version, int)
    return runtime, code, version


class AlgorithmBook:
    """Every builder's accepted versions that can still run (older ones are on disk only)."""

    def __init__(self) -> None:
        self.versions: dict[str, list[AlgorithmRecord]] = {}

    def load(self, records: list[AlgorithmRecord]) -> None:
        for r in sorted(records, key=lambda r: (r.builder, r.version)):
            self.versions.setdefault(r.builder, []).append(r)

    def latest(self, builder: str) -> AlgorithmRecord | None:
        found = self.versions.get(builder)
        return found[-1] if found else None

    def for_slot(self, slot: int, prune: bool = True) -> dict[str, AlgorithmRecord]:
        """Per builder, its newest version that runs in ``slot``; with ``prune``, versions
        superseded by one that runs there are dropped (slots settle in increasing order)."""
        out = {}
        for builder, found in self.versions.items():
            ready = [i for i, r in enumerate(found) if r.from_slot <= slot]
            if ready:
                out[builder] = found[ready[-1]]
                if prune:
                    del found[:ready[-1]]
        return out


def read_all(db: Db) -> list[AlgorithmRecord]:
    return [AlgorithmRecord(r["builder"], int(r["version"]), r["runtime"], base64.b64decode(r["code"]), r["sha256"],
                            int(r["from_slot"]), int(r["received_ms"])) for r in db.rows(select(*table.c))]


INSERT = table.insert()


def insert(db: Db, r: AlgorithmRecord) -> None:
    db.execute(INSERT, {"builder": r.builder, "version": r.version, "runtime": r.runtime,
                        "code": base64.b64encode(r.code).decode(), "sha256": r.sha256, "from_slot": r.from_slot,
                        "received_ms": r.received_ms})


async def submit(auctioneer: Auctioneer, params: Any, signer: str) -> dict:
    """Store a registered builder's new version durably; the ack says from which slot it runs."""
    require(signer in auctioneer.builders.deposits, "builder",
            f"{signer} is not a registered builder (the operator registers builders with "
            f"serve --builder ADDRESS=DEPOSIT_WEI)")
    runtime, code, version = parse_submission(params)
    book: AlgorithmBook = auctioneer.algorithms
    last = book.latest(signer)
    if last is not None and version <= last.version:
        raise InputError("version", f"must be above this builder's current version {last.version} "
                                    "(an older or repeated submission is refused)")
    record = AlgorithmRecord(signer, version, runtime, code, hashlib.sha256(code).hexdigest(),
                             auctioneer.clock.current() + 1, now_ms())
    # Reserved before the write: a concurrent submission of the same version is refused.
    book.versions.setdefault(signer, []).append(record)
    try:
        await auctioneer.store.write(lambda db: insert(db, record))
    except Exception:  # not stored, not acknowledged: the version is free again
        book.versions[signer].remove(record)
        raise
    auctioneer.metrics.inc("mevauction_algorithms_submitted_total", help="Builder algorithm versions stored",
                           runtime=runtime)
    return record.status()


def status(auctioneer: Auctioneer, signer: str) -> dict:
    """``mev_getAlgorithm``: the signer's own latest version (no code), or ``{"version": null}``."""
    last = auctioneer.algorithms.latest(signer)
    return last.status() if last is not None else {"builder": signer, "version": None}


def slot_programs(book: AlgorithmBook, registry: BuilderRegistry, budget_ms: int, slot: int,
                  bids: Mapping[str, dict]) -> tuple[dict[str, dict], SlotPrograms]:
    """The slot's scenario entries for the algorithms that run in it, and their code.

    A builder with a bid for the slot, or no longer registered, is left out; each entry's
    ``deposit`` is the builder's free deposit (a bid above block value + that is refused)."""
    entries, programs = {}, {}
    for builder, r in book.for_slot(slot).items():
        if builder in bids or builder not in registry.deposits:
            continue
        free = max(0, registry.free(builder, except_slot=slot))
        entries[builder] = {PROGRAM_KEY: f"{r.runtime}:{r.version}:{r.sha256}", "deposit": str(free)}
        programs[builder] = r.program()
    return entries, SlotPrograms(budget_ms, programs, slot)


def upcoming(book: AlgorithmBook, registry: BuilderRegistry, budget_ms: int, slot: int) -> SlotPrograms:
    """What will run at ``slot``'s deadline as far as is known before it (for its warm jails):
    every registered builder's newest version for that slot. Builders who send a bid for
    the slot meanwhile do not run; their jails are torn down unused."""
    return SlotPrograms(budget_ms, {b: r.program() for b, r in book.for_slot(slot, prune=False).items()
                                    if b in registry.deposits}, slot)


# The warm jails of the next slot to settle, in the process that runs the auction (the
# settlement worker): (its slot, its jails, what they were started with).
_warm: tuple[int, WarmJails, dict[str, Program], bool] | None = None


def prestart(programs: SlotPrograms, sealed: bool) -> None:
    """Start the jails of ``programs.slot``'s algorithms now, ahead of its deadline (in the
    settlement worker, whose main thread outlives them; sandbox/warm.py). Any set started
    for another slot, or for other programs, is torn down first: none outlives its slot."""
    global _warm
    if _warm is not None and _warm[0] == programs.slot and _warm[2] == programs.programs and _warm[3] == sealed:
        return  # the same slot again (on a chain, a slot with no orders re-opens): its jails never ran
    if _warm is not None:
        _warm[1].close()
    _warm = (programs.slot, WarmJails(programs.programs, programs.limits(), sealed),
             dict(programs.programs), sealed) if programs.programs and programs.slot is not None else None


def claim_warm(programs: SlotPrograms | None) -> WarmJails | None:
    """The warm jails started for this slot, taken once: a second run of the slot (an order
    left out, a winner that could not pay) starts its jails at its own deadline."""
    global _warm
    if programs is None or _warm is None or _warm[0] != programs.slot:
        return None
    found, _warm = _warm[1], None
    return found


def sealing(committee: Slot, scenario: dict, slot_programs: SlotPrograms | None) -> dict[str, Sealing]:
    """A sealed slot's submitted algorithms: per builder, what its jail seals the bid to,
    and what turns the jail's output into the builder's sealed bid on ``committee``
    (in the settlement worker; the bid's amount never passes here).

    Each (slot's auction, builder) gets its own key, derived from the service's persistent
    seal secret (:func:`seal_key`; fresh if there is none): its address labels the bid (the committee takes a bid
    only under its signer's address) and it signs the header over the jail's commitment
    and share hashes — the envelopes inside are bound to that header. The builder's
    free deposit (its scenario entry) is the bid's cap, checked inside the MPC (or the
    garbled circuit: with the pair the jail XOR-splits the bid, ``mevseal.seal``)."""
    from mevauction.privacy import messages
    from mevauction.privacy.builder_auction import BUILDER_BITS, check_sealed_bid
    from mevauction.privacy.field import modulus_for, threshold_for
    from mevauction.privacy.twoparty.relay import PairSlot
    from mevauction.sandbox.protocol import Sealing

    if slot_programs is None:
        return {}
    deposits = {b["id"]: int(b.get("deposit", 0)) for b in scenario.get("builders", []) if PROGRAM_KEY in b}
    parties = len(committee.members)

    def one(builder: str) -> Sealing:
        secret = committee.seal_secret
        key = seal_key(secret, committee.auction, builder) if secret else messages.new_key()
        label = messages.address(key)
        context = {"auction": committee.auction, "label": label, "members": list(committee.members),
                   "threshold": threshold_for(parties), "bits": BUILDER_BITS, "modulus": modulus_for(BUILDER_BITS),
                   "backend": "2pc" if isinstance(committee, PairSlot) else "mpc"}

        def accept(out: dict[str, Any]) -> str | None:
            header = messages.BidHeader(committee.auction, label, label, "builder", str(out["commitment"]),
                                        tuple(str(h) for h in out["share_hashes"]))
            header = header.signed(key)
            try:
                checked = check_sealed_bid({"header": header.to_json(), "ciphertexts": out["ciphertexts"]},
                                           label, committee.auction, parties)
            except InputError as exc:
                return exc.one_line()
            committee.bids[builder] = checked
            committee.caps[builder] = deposits.get(builder, 0)
            return None
        return Sealing(context, accept)
    return {b: one(b) for b in slot_programs.programs if b in deposits}


SEAL_KEY_DOMAIN = b"mevauction.algorithm-seal-key/1"


def seal_key(secret: bytes, auction: str, builder: str) -> bytes:
    """The key that signs ``builder``'s sealed-algorithm header in ``auction``: the same after
    a restart (so a stored header still verifies under the same label), unguessable without
    the service's secret, and different per slot and builder (no two bids share a label)."""
    body = SEAL_KEY_DOMAIN + b"\0" + auction.encode() + b"\0" + builder.encode()
    return private_key(keccak(secret + body))


def detach(scenario: dict, slot_programs: SlotPrograms | None) -> tuple[dict, list[tuple[int, BuilderSubmission]]]:
    """(the scenario without its algorithm entries, those entries as submissions at their places).

    Runs in the settlement worker. An entry whose builder has no code is dropped."""
    from mevauction.mechanism.builders import BuilderSubmission

    builders = scenario.get("builders", [])
    if slot_programs is None or not any(PROGRAM_KEY in b for b in builders):
        return scenario, []
    kept, subs = [], []
    for index, b in enumerate(builders):
        if PROGRAM_KEY not in b:
            kept.append(b)
        elif b["id"] in slot_programs.programs:
            subs.append((index, BuilderSubmission(b["id"], None, None, None, slot_programs.programs[b["id"]],
                                                  int(b.get("deposit", 0)))))
    return {**scenario, "builders": kept}, subs


def parsed(scenario: dict, slot_programs: SlotPrograms | None) -> tuple[Scenario, Limits | None]:
    """The slot's scenario parsed, its algorithms put back in their places, and their limits
    (in the settlement worker)."""
    from mevauction.intake.scenario import parse_scenario

    clean, subs = detach(scenario, slot_programs)
    out = parse_scenario(clean)
    for index, sub in subs:
        out.builders.insert(index, sub)
    return out, (slot_programs.limits() if subs and slot_programs is not None else None)
