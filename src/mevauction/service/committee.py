"""The service's sealed-bid committee: one local MPC committee for the life of the service.

Starting three MPyC server processes costs about a second, so ``serve --sealed`` starts
one :class:`~mevauction.privacy.client.LocalCommittee` at start-up and hands it to every
settlement (seed 000: the committee opens only winner and price).

What the service holds and what it does not: its own control key (generated at start;
the servers pin its address, so only it opens, closes or stops auctions and submits the
reserve) and the servers' encryption *public* keys, pinned at the first start. Each
server makes and keeps its private key in its own file (``key_dir``, beside the
database so that bids sealed before a restart still open after it); the service never
reads it. TLS is on between the servers and on their intake, and nothing public names
their ports or process ids (``/healthz`` says only whether the committee is up).

A committee server exits after an aborted auction (an MPyC session cannot go on with a
party missing), so a dead or aborted committee is restarted — once per slot, with the
same keys; a second failure settles the slot to an error report. The service never
falls back to opening the builders' bids: it never has them.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mevauction.errors import InputError
from mevauction.eth.keccak import keccak
from mevauction.service.metrics import Metrics

if TYPE_CHECKING:  # the MPC extra is imported only when a committee starts
    from mevauction.privacy.client import LocalCommittee
    from mevauction.privacy.twoparty.relay import Slot

log = logging.getLogger("mevauction.service")

SHUTDOWN_TIMEOUT_S = 5.0


def sealed_available() -> bool:
    """Whether the sealed-bid committee (``mevauction.privacy``) is installed."""
    import importlib.util
    try:
        return importlib.util.find_spec("mevauction.privacy.builder_auction") is not None
    except ImportError:
        return False


class CommitteeFailure(RuntimeError):
    """The committee could not run the builders' auction or could not be started (a
    server dead, unreachable or aborted): restart and retry; never a clear fall-back."""


def key_dir_for(db_url: str, suffix: str = ".committee") -> str | None:
    """Where the servers (or the 2PC parties, ``.pair``) keep their keys: beside a SQLite
    database file (None: a temporary directory for this run, e.g. with PostgreSQL or an
    in-memory database)."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url[len(prefix):] not in ("", ":memory:"):
        return db_url[len(prefix):] + suffix
    return None


class ServiceCommittee:
    """Owns the local committee processes: start, health, restart, stop; the slot's auction id.
    (``service/pair.py`` is the two-party backend's, with the same interface.)"""

    backend = "mpc"

    def __init__(self, parties: int, metrics: Metrics, identity: str = "mevauction", key_dir: str | None = None):
        from mevauction.privacy.messages import new_key

        self.parties = parties
        self.metrics = metrics
        self.identity = identity
        self.local: LocalCommittee | None = None  # the running committee, if any
        self.restarts = 0
        self.control_key = new_key()  # this service's: the servers take control requests from it only
        self._temp_keys = tempfile.TemporaryDirectory(prefix="mevauction-committee-") if key_dir is None else None
        self.key_dir = key_dir or (self._temp_keys.name if self._temp_keys else "")
        self.members: list[str] = []  # the servers' encryption keys, pinned at the first start
        self._seal_secret: bytes | None = None  # read on first use (the key dir exists by then)

    def start(self) -> None:
        from mevauction.privacy.client import LocalCommittee

        Path(self.key_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        local = LocalCommittee(self.parties, control_key=self.control_key, key_dir=self.key_dir).start()
        keys = local.member_keys()
        if self.members and keys != self.members:
            local.stop()
            raise RuntimeError("the restarted committee's encryption keys are not the pinned ones")
        self.local, self.members = local, keys
        self.metrics.set("mevauction_committee_up", 1, help="Whether the sealed-bid committee is running")
        log.info("sealed-bid committee up (%d servers, TLS, keys pinned)", self.parties)

    def auction_id(self, slot: int) -> str:
        """The id of ``slot``'s builder auction: what a builder's sealed bid is bound to."""
        return f"slot-{slot}-{keccak(f'sealed-auction:{self.identity}'.encode()).hex()[:16]}"

    def info(self, slot: int) -> dict[str, Any]:
        """What a builder needs to seal its bid for ``slot`` (``mev_getCommittee``)."""
        from mevauction.privacy.builder_auction import BUILDER_BITS
        from mevauction.privacy.field import threshold_for
        from mevauction.privacy.messages import address

        return {"slot": hex(slot), "auction": self.auction_id(slot), "backend": self.backend, "parties": self.parties,
                "threshold": threshold_for(self.parties), "bits": BUILDER_BITS, "members": list(self.members),
                "controller": address(self.control_key)}

    def checked_bid(self, submission: dict[str, Any], signer: str, slot: int) -> dict[str, Any]:
        """The stored form of a sealed submission: its block choice and the checked header and
        envelopes (no amount: the service never has it)."""
        from mevauction.privacy.builder_auction import check_sealed_bid

        if "sealedBid" not in submission:
            raise InputError("sealedBid", "this service takes sealed builder bids only (see mev_getCommittee)")
        out = {k: v for k, v in submission.items() if k != "sealedBid"}
        out["sealed"] = check_sealed_bid(submission["sealedBid"], signer, self.auction_id(slot), self.parties)
        return out

    def sealed_slot(self, slot: int, bids: dict[str, dict[str, Any]], caps: dict[str, int] | None = None) -> Slot:
        """The slot's builder auction as the settlement worker runs it on this committee;
        ``caps``: each builder's largest allowed bid (its free deposit), checked in the MPC."""
        from mevauction.privacy.builder_auction import SealedSlot

        if self.local is None:
            raise CommitteeFailure("the committee is not running")
        return SealedSlot(self.local.access(), self.auction_id(slot), list(self.members), bids, dict(caps or {}),
                          self.seal_secret())

    def seal_secret(self) -> bytes:
        """The secret the keys that sign sealed-algorithm headers derive from: a 0600 file in
        the committee's key dir (beside a SQLite DB, so it survives a restart; a temporary
        dir otherwise), so a slot's header label is the same service's after a restart."""
        from mevauction.service.seeds import load_secret

        if self._seal_secret is None:
            Path(self.key_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
            self._seal_secret = load_secret(Path(self.key_dir) / "algorithm-seal.secret")
        return self._seal_secret

    def alive(self) -> bool:
        """Every server process is still running (a server exits after an abort)."""
        return bool(self.local and self.local.procs and all(p.poll() is None for p in self.local.procs))

    async def restart(self) -> None:
        """Stop what is left of the committee and start a fresh one (off the event loop)."""
        self.restarts += 1
        self.metrics.inc("mevauction_committee_restarts_total", help="Restarts of the sealed-bid committee")
        self.metrics.set("mevauction_committee_up", 0, help="Whether the sealed-bid committee is running")
        old, self.local = self.local, None
        if old is not None:
            await asyncio.to_thread(old.stop)
        try:
            await asyncio.to_thread(self.start)
        except (RuntimeError, OSError) as exc:  # LocalCommittee.start: a server exited or never listened
            raise CommitteeFailure(f"restart failed: {exc}") from None

    async def stop(self) -> None:
        """Ask the servers to leave MPyC together; kill whatever has not exited."""
        if self.local is None:
            return
        local, self.local = self.local, None
        if all(p.poll() is None for p in local.procs):
            from mevauction.privacy.client import Coordinator

            try:
                async with Coordinator(local.access()) as co:
                    await asyncio.wait_for(co.shutdown(), SHUTDOWN_TIMEOUT_S)
            except (TimeoutError, OSError, RuntimeError) as exc:
                log.warning("committee did not shut down cleanly (%s); stopping its processes", exc)
        await asyncio.to_thread(local.stop)
        self.metrics.set("mevauction_committee_up", 0, help="Whether the sealed-bid committee is running")
        if self._temp_keys is not None:
            self._temp_keys.cleanup()


async def sealed_report(committee: ServiceCommittee, slot: int, sealed: dict[str, dict], caps: dict[str, int] | None,
                        run: Callable[[Slot], Awaitable[dict]], metrics: Metrics,
                        failed: Callable[[str], dict]) -> dict:
    """The slot's report with the builders' auction in ``committee`` (``run`` runs the auction
    on a sealed slot).

    A committee found dead, or failing the auction, is restarted once and the auction
    retried; if that fails too the slot gets an error report (``failed``: every order
    excluded, the reason in its note) — never a wrong award, never the clear auction instead.
    """
    restarted = False
    try:
        if not committee.alive():
            log.warning("slot %d: sealed-bid committee is down; restarting it", slot)
            await committee.restart()
            restarted = True
        try:
            return await run(committee.sealed_slot(slot, sealed, caps))
        except CommitteeFailure as exc:
            if restarted:
                raise
            log.warning("slot %d: sealed builder auction failed (%s); restarting the committee", slot, exc)
        await committee.restart()
        return await run(committee.sealed_slot(slot, sealed, caps))
    except CommitteeFailure as exc:
        log.error("slot %d: sealed builder auction failed after a committee restart: %s", slot, exc)
        metrics.inc("mevauction_committee_failures_total",
                    help="Slots settled to an error report because the committee failed twice")
        reason = " ".join(str(exc).split())
        return failed(f"sealed: the committee failed after a restart: {reason}")
