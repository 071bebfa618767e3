"""The service's sealed-bid committee: one local MPC committee for the life of the service.

Starting three MPyC server processes costs about a second, so ``serve --sealed`` starts
one :class:`~mevauction.privacy.client.LocalCommittee` at start-up and hands its intake
addresses to every settlement (seed 000: the committee opens only winner and price).
A committee server exits after an aborted auction (an MPyC session cannot go on with a
party missing), so a dead or aborted committee is restarted — once per slot; a second
failure settles the slot to an error report. The service never falls back to opening
the builders' bids in the clear on its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from mevauction.service.metrics import Metrics

if TYPE_CHECKING:  # the MPC extra is imported only when a committee starts
    from mevauction.privacy.client import LocalCommittee

log = logging.getLogger("mevauction.service")

SHUTDOWN_TIMEOUT_S = 5.0


class CommitteeFailure(RuntimeError):
    """The committee could not run the builders' auction or could not be started (a
    server dead, unreachable or aborted): restart and retry; never a clear fall-back."""


class ServiceCommittee:
    """Owns the local committee processes: start, health, restart, stop."""

    def __init__(self, parties: int, metrics: Metrics):
        self.parties = parties
        self.metrics = metrics
        self.local: LocalCommittee | None = None  # the running committee, if any
        self.restarts = 0

    def start(self) -> None:
        from mevauction.privacy.client import LocalCommittee

        self.local = LocalCommittee(self.parties).start()
        self.metrics.set("mevauction_committee_up", 1, help="Whether the sealed-bid committee is running")
        log.info("sealed-bid committee up: pids %s, intake %s", self.pids(), self.intake())

    def intake(self) -> list[tuple[str, int]]:
        return list(self.local.intake) if self.local else []

    def pids(self) -> list[int]:
        return [p.pid for p in self.local.procs] if self.local else []

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
                async with Coordinator(local.intake) as co:
                    await asyncio.wait_for(co.shutdown(), SHUTDOWN_TIMEOUT_S)
            except (TimeoutError, OSError, RuntimeError) as exc:
                log.warning("committee did not shut down cleanly (%s); stopping its processes", exc)
        await asyncio.to_thread(local.stop)
        self.metrics.set("mevauction_committee_up", 0, help="Whether the sealed-bid committee is running")
