"""One slot's records: the auction run and what is written for it.

The scenario is built from the slot's admitted orders (with its builders' bids and
submitted algorithms, the slot's secret seed and its preconf commitments); the auction
runs in the settlement worker, or with the service's committee when bids are sealed;
orders that would break the run are isolated and left out with a reason
(:func:`mevauction.service.settle.isolated_report`), winners that cannot pay from their
deposit are disqualified, and the records come back ready to write. A slot that cannot
settle gets records too (:meth:`SlotReports._failed`): its orders by id, each excluded
with the reason. The settlement loop that calls these is the auctioneer's
(:mod:`mevauction.service.engine`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from mevauction.errors import InputError
from mevauction.service import preconf_block, settle
from mevauction.service.algorithms import AlgorithmBook, SlotPrograms, slot_programs
from mevauction.service.builders import BuilderRegistry, covered_report
from mevauction.service.committee import ServiceCommittee, sealed_report
from mevauction.service.config import ServiceConfig
from mevauction.service.health import Health
from mevauction.service.metrics import Metrics
from mevauction.service.onchain import ChainLink, SlotWorld
from mevauction.service.records import SettledSlot
from mevauction.service.seeds import SlotSeeds
from mevauction.service.slotstate import OrderEntry, SlotState, now_ms
from mevauction.service.worker import start_pool

if TYPE_CHECKING:  # the MPC extra is imported only when a committee starts
    from mevauction.privacy.twoparty.relay import Slot
    from mevauction.service.preconf import PreconfDesk

log = logging.getLogger("mevauction.service")


class SlotReports:
    """The auctioneer's report making (a mixin of :class:`~mevauction.service.engine.Auctioneer`,
    which sets these attributes)."""

    config: ServiceConfig
    world: dict  # the slot world as a scenario "world" object
    health: Health
    metrics: Metrics
    builders: BuilderRegistry
    seeds: SlotSeeds
    chain: ChainLink | None
    preconf: PreconfDesk | None
    committee: ServiceCommittee | None
    pool: ProcessPoolExecutor | None
    parent_hash: str
    algorithms: AlgorithmBook

    async def _settlement(self, slot: int, state: SlotState, pending: list[OrderEntry],
                          sw: SlotWorld | None = None) -> SettledSlot:
        """The slot's records, every order that would break them left out with a reason, and
        every winner that cannot pay from its deposit disqualified (service/builders.py).
        On a chain (``sw``) the world is forked from the node and the block to mine is planned."""
        gas_limit = self.config.block_gas_limit
        admitted, refused, over = settle.screen([e.scenario_order for e in pending], gas_limit)
        builders, sealed = (state.builders, {}) if self.committee is None else settle.split_sealed(state.builders)
        entries, programs = slot_programs(self.algorithms, self.builders, self.config.algorithm_budget_ms, slot,
                                          state.builders)
        builders = {**entries, **builders}
        scenario = {**settle.build_scenario(self.world if sw is None else sw.world, admitted, builders, gas_limit),
                    "seed": self.seeds.seed(slot)}
        if self.preconf is not None and slot not in self.preconf.settled:  # settled: given up before, done
            scenario = preconf_block.with_commitments(scenario, self.preconf.committed(slot), self.preconf.public,
                                                      gas_limit)
        # Sealed: a bid above its builder's free deposit counts as 0, inside the MPC.
        caps = {b: max(0, self.builders.free(b, except_slot=slot)) for b in sealed}
        penalties: dict[str, int] = {}

        async def one(sc: dict) -> dict:
            return await self._run(slot, state, sc, sealed, caps, programs)

        async def run(sc: dict) -> dict:
            report, found = await covered_report(one, sc, self.builders, slot)
            penalties.clear()
            penalties.update(found)
            return report
        report, scenario, broke = await settle.isolated_report(scenario, run)
        for _ in (*refused, *broke):
            self.health.order_excluded_for_fault()
        try:
            settled = settle.records(slot, self.world, scenario, report, self.parent_hash if sw is None else
                                     sw.parent_hash, self.config.identity, now_ms(), state.builder_times,
                                     state.commitments, penalties, keep_bids=not self.config.sealed)
            if sw is not None and self.chain is not None:
                plan = self.chain.plan(slot, sw, scenario, report, settled.slot.fee_recipient)
                settled = dataclasses.replace(settled, delivery=plan)
            elif self.preconf is not None and "error" not in report:  # what no-chain settlement reads
                settled = dataclasses.replace(settled, block_txs=preconf_block.block_hashes(scenario, report))
        except (InputError, KeyError, TypeError, ValueError) as exc:  # a report that does not check out
            return self._failed(slot, pending, f"the report could not be recorded: {type(exc).__name__}: {exc}")
        if "error" not in report:  # the seed the default ran with, now that intake is closed
            settled = settle.with_seed(settled, self.seeds.revealed(slot))
        return settle.with_exclusions(settled, {**refused, **over, **broke})


    def _failed(self, slot: int, pending: list[OrderEntry], reason: str) -> SettledSlot:
        """The records of a slot that could not settle: its orders by id only (no value of
        theirs is written), each excluded with ``reason``."""
        scenario = settle.build_scenario(self.world, [{"id": e.key} for e in pending], {},
                                         self.config.block_gas_limit)
        return settle.records(slot, self.world, scenario, settle.failed_report(reason), self.parent_hash,
                              self.config.identity, now_ms(), {})

    async def _run(self, slot: int, state: SlotState, scenario: dict, sealed: dict[str, dict],
                   caps: dict[str, int], programs: SlotPrograms | None = None) -> dict:
        if self.committee is not None and (state.builders or (programs is not None and programs.programs)):
            return await self._sealed_report(slot, scenario, sealed, caps, programs)
        return await self._report(scenario, None, programs)

    async def _report(self, scenario: dict, committee: Slot | None,
                      programs: SlotPrograms | None = None) -> dict:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, settle.run_scenario, scenario, self.config.k_cutoff,
                                              committee, programs)
        except BrokenProcessPool:  # the worker died (on this scenario or not): a new one for the next run
            log.error("the settlement worker died; starting a new one")
            if self.pool is not None:
                self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = start_pool(warm=False)  # not warmed: that would block the event loop
            raise

    async def _sealed_report(self, slot: int, scenario: dict, sealed: dict[str, dict],
                             caps: dict[str, int] | None = None,
                             programs: SlotPrograms | None = None) -> dict:
        """The report with the builders' auction in the service's committee (restarted once
        on failure; then an error report: service/committee.py ``sealed_report``)."""
        assert self.committee is not None, "a sealed report is asked for only when the service runs a committee"
        return await sealed_report(self.committee, slot, sealed, caps, lambda sc: self._report(scenario, sc, programs),
                                   self.metrics, settle.failed_report)
