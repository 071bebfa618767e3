"""The auctioneer: slots, intake rules, and the settlement loop (a slot's report and
records are made in :mod:`mevauction.service.slot_reports`).

Intake rules (what an acknowledgement promises):
- an order is acknowledged only after its row is durably committed;
- an order targets the open slot or a future one (up to ``max_slots_ahead``); a slot
  whose deadline has passed takes nothing more;
- an order id belongs to its signer: orders are (slot, signer, id), and another signer
  sending the same id in the same slot gets an order of its own (under a derived id in
  the slot's scenario, :func:`scenario_id_for`);
- the same order sent again by its signer (a replay) is acknowledged again without a
  new row;
- a ``replacementUuid`` belongs to its signer: a new order under it cancels the
  signer's pending order under it; ``eth_cancelBundle`` cancels it outright, if the
  order arrived before the cancel's signed timestamp;
- a builder's bid replaces its earlier bid for the slot only if signed later.
At each deadline the slot is closed, in-flight writes for it are awaited, and the
slot settles (see :mod:`mevauction.service.settle`): orders that would break it are
left out with a reason, a slot that cannot settle is stored as failed, and a slot whose
records cannot be written at all is given up after ``MAX_SETTLE_ATTEMPTS`` (its orders
stay on disk, pending) — no slot holds up the ones after it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

from mevauction.chain.rpc import NodeUnavailable, RpcError
from mevauction.errors import InputError
from mevauction.eth import fields
from mevauction.service import algorithms, dao, onchain, preconf_block, settle
from mevauction.service.builders import BuilderRegistry, commit, registry_of
from mevauction.service.clock import SlotClock, resume_clock
from mevauction.service.committee import ServiceCommittee, key_dir_for
from mevauction.service.config import ServiceConfig, builder_deposits
from mevauction.service.health import Health
from mevauction.service.intake import BuilderBid, Intake, IntakeRules, canonical, check_time_window, renamed
from mevauction.service.metrics import Metrics
from mevauction.service.onchain import BlockTaken, ChainLink, SlotNotReady, SlotWorld
from mevauction.service.records import BuilderBidRecord, BuilderRegistration, OrderRecord, SettledSlot
from mevauction.service.seeds import SlotSeeds
from mevauction.service.slot_reports import SlotReports
from mevauction.service.slotstate import OrderEntry, SlotState, now_ms, scenario_id_for
from mevauction.service.store import Db, StorageError, Store
from mevauction.service.worker import start_pool

if TYPE_CHECKING:  # the MPC extra is imported only when a committee starts
    from mevauction.service.preconf import PreconfDesk

log = logging.getLogger("mevauction.service")
MAX_SETTLE_ATTEMPTS = 3


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has stopped."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return


class Auctioneer(SlotReports):
    def __init__(self, config: ServiceConfig, store: Store, metrics: Metrics):
        self.config = config
        self.store = store
        self.metrics = metrics
        self.world = config.world_object()
        self.rules = IntakeRules.of(config)
        self.health = Health()
        self.attempts: dict[int, int] = {}  # slots whose records could not be written, and how often
        self.slots: dict[int, SlotState] = {}
        self.uuids: dict[tuple[str, str], tuple[int, str]] = {}
        self.seq = 0
        self.clock: SlotClock = SlotClock(time.time(), config.slot_seconds)
        self.pool: ProcessPoolExecutor | None = None
        self._prestarted: tuple | None = None  # the last slot whose jails were asked to start ahead
        self.last_settled: int | None = None
        self.parent_hash = settle.ZERO_HASH
        self.settle_seconds: dict[int, float] = {}
        self.committee: ServiceCommittee | None = None
        self.builders = BuilderRegistry(builder_deposits(config))
        # The default algorithm's seed per slot: committed while the slot takes orders
        # (mev_slot), revealed in its report, so an order id cannot be ground against it.
        self.seeds = SlotSeeds(config.db)
        self._task: asyncio.Task | None = None
        self.chain: ChainLink | None = None  # serve --chain: slots are the node's blocks (service/onchain.py)
        self.preconf: PreconfDesk | None = None  # its commitments bind the slots' blocks (service/preconf_block.py)
        self.algorithms = algorithms.AlgorithmBook()  # builders' submitted algorithms (service/algorithms.py)

    # -- start-up and recovery -----------------------------------------------------------
    def recover_preconf(self) -> None:
        """After :meth:`load` and the desk's load: blocks whose commitments nothing would
        settle are owed or given up (service/preconf_block.py ``recover``)."""
        if self.preconf is None:
            return
        desk, alive, chain = self.preconf, set(self.slots), self.chain is not None
        self.store.write_now(lambda db: preconf_block.recover(db, desk, self.last_settled, alive, now_ms(), chain))
    def load(self) -> None:
        """Resume from disk: clock, unsettled slots with their orders and builder bids."""
        def read(db: Db) -> tuple:
            return (dao.read_meta(db), dao.unsettled_orders(db), dao.unsettled_builder_bids(db),
                    dao.max_order_seq(db), dao.chain_head(db), dao.deposit_entries(db))
        meta, orders, bids, top, head, deposits = self.store.read_now(read)
        self.algorithms.load(self.store.read_now(algorithms.read_all))
        self.builders = registry_of(self.builders.deposits, deposits,
                                    [(b.slot, b.builder, b.submission.get("bid")) for b in bids], self.config.sealed)
        registry = [BuilderRegistration(a, d) for a, d in sorted(self.builders.deposits.items())]
        self.store.write_now(lambda db: dao.replace_builders(db, registry))
        self.clock = resume_clock(float(meta["genesis"]) if "genesis" in meta else None,
                                  float(meta["slot_seconds"]) if "slot_seconds" in meta else None,
                                  self.config.slot_seconds)
        self.store.write_now(lambda db: dao.write_meta(
            db, {"genesis": repr(self.clock.genesis), "slot_seconds": repr(self.clock.slot_seconds)}))
        if self.chain is not None:
            self.store.write_now(self.chain.load_secret)
            self.clock = self.chain.clock()
        self.seq = top
        if head:
            self.last_settled, self.parent_hash = head.slot, head.block_hash
        for o in orders:
            entry = OrderEntry(o.id, o.kind, o.signer, o.replacement_uuid, o.scenario_order, o.seq, o.received_ms,
                               o.status)
            state = self.state(o.slot)
            state.orders[(o.signer, o.id)] = entry
            state.scenario_ids.add(entry.key)
            if o.replacement_uuid and o.status == "pending":
                self.uuids[(o.signer, o.replacement_uuid)] = (o.slot, o.id)
        for bid in bids:
            state = self.state(bid.slot)
            state.builders[bid.builder] = bid.submission
            state.builder_times[bid.builder] = bid.received_ms
            state.commitments[bid.builder] = bid.commitment

    def start(self) -> None:
        self.pool = start_pool()
        if self.config.sealed and self.config.sealed_backend == "2pc":
            from mevauction.service.pair import ServicePair

            self.committee = ServicePair(self.metrics, self.config.identity, key_dir_for(self.config.db, ".pair"),
                                         self.config.sealed_parties_file)
            self.committee.start()
        elif self.config.sealed:
            self.committee = ServiceCommittee(self.config.committee_parties, self.metrics, self.config.identity,
                                              key_dir_for(self.config.db))
            self.committee.start()
        self._task = asyncio.get_running_loop().create_task(self._settle_loop(), name="slot-clock")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.committee is not None:
            await self.committee.stop()

    def state(self, slot: int) -> SlotState:
        if slot not in self.slots:
            self.slots[slot] = SlotState(slot)
        return self.slots[slot]

    # -- intake ----------------------------------------------------------------------------
    def target_slot(self, requested: int | None) -> SlotState:
        current = self.clock.current()
        slot = current if requested is None else requested
        if slot < current or (slot in self.slots and self.slots[slot].closed):
            raise InputError("blockNumber", f"slot {slot} is closed for orders (open slot is {current})")
        if slot > current + self.config.max_slots_ahead:
            raise InputError(
                "blockNumber", f"slot {slot} is more than {self.config.max_slots_ahead} slots ahead of {current}"
            )
        return self.state(slot)

    def pending_orders(self, slot: int | None) -> list[dict]:
        """The scenario orders pending in ``slot`` (None: the open slot), in arrival order."""
        state = self.slots.get(self.clock.current() if slot is None else slot)
        if state is None:
            return []
        return [e.scenario_order for e in sorted(state.orders.values(), key=lambda e: e.seq) if e.status == "pending"]

    async def submit(self, intake: Intake, signer: str) -> dict:
        """Store an order durably (or recognise a replay) and return the acknowledgement."""
        state = self.target_slot(intake.slot)
        check_time_window(intake, state.slot, self.clock.timestamp(state.slot))
        ack = {"bundleHash": intake.id} if intake.kind == "bundle" else {"orderId": intake.id}
        ack["slot"] = hex(state.slot)
        existing = state.orders.get((signer, intake.id))
        if existing is not None:
            if existing.status == "cancelled":
                raise InputError("params[0]", f"{intake.id} was cancelled in slot {state.slot}; it cannot be revived")
            again = intake.scenario_order if existing.key == intake.id else renamed(intake.scenario_order, existing.key)
            if existing.kind != intake.kind or canonical(existing.scenario_order) != canonical(again):
                raise InputError(
                    "order.id", f"{intake.id!r} is already taken in slot {state.slot} by a different order"
                )
            if existing.durable is not None:
                await asyncio.shield(existing.durable)
            self.metrics.inc("mevauction_replays_total", help="Submissions recognised as already stored")
            return ack
        replaced = None
        if intake.replacement_uuid:
            replaced = self.uuids.get((signer, intake.replacement_uuid))
        self.seq += 1
        key = scenario_id_for(state, intake.id, signer)
        scenario_order = intake.scenario_order if key == intake.id else renamed(intake.scenario_order, key)
        entry = OrderEntry(intake.id, intake.kind, signer, intake.replacement_uuid, scenario_order,
                           self.seq, now_ms())
        record = OrderRecord(state.slot, entry.id, entry.seq, entry.kind, signer, entry.uuid, intake.params,
                             entry.scenario_order, entry.received_ms, scenario_id=None if key == entry.id else key)
        old_entry = self._entry(replaced[0], signer, replaced[1]) if replaced else None
        old_key = old_entry.key if old_entry is not None else None

        def write(db: Db) -> None:
            dao.insert_order(db, record)
            if replaced and old_key is not None:
                dao.replace_order(db, replaced[0], old_key, by=entry.id)

        state.orders[(signer, entry.id)] = entry
        state.scenario_ids.add(key)
        if old_entry is not None:
            old_entry.status = "cancelled"
        if entry.uuid:
            self.uuids[(signer, entry.uuid)] = (state.slot, entry.id)
        entry.durable = self._tracked_write(state, write)
        try:
            await asyncio.shield(entry.durable)
        except Exception:
            self._undo(state, entry, old_entry, replaced, signer)
            self.health.write_failed()
            raise
        entry.durable = None
        self.metrics.inc("mevauction_orders_acknowledged_total", help="Orders durably stored and acknowledged",
                         kind=intake.kind)
        return ack

    def _undo(self, state: SlotState, entry: OrderEntry, old_entry: OrderEntry | None, replaced, signer: str) -> None:
        state.orders.pop((signer, entry.id), None)
        state.scenario_ids.discard(entry.key)
        if old_entry is not None:
            old_entry.status = "pending"
        if entry.uuid:
            if replaced:
                self.uuids[(signer, entry.uuid)] = replaced
            else:
                self.uuids.pop((signer, entry.uuid), None)

    def _entry(self, slot: int, signer: str, order_id: str) -> OrderEntry | None:
        state = self.slots.get(slot)
        return state.orders.get((signer, order_id)) if state else None

    def _tracked_write(self, state: SlotState, fn) -> asyncio.Future:
        """A durable write that settlement of ``state``'s slot must wait for."""
        state.inflight += 1
        state.drained.clear()
        future = self.store.write(fn)

        def done(_):
            state.inflight -= 1
            if state.inflight == 0:
                state.drained.set()
        future.add_done_callback(done)
        return future

    async def cancel(self, uuid: str, signer: str, signed_ms: int) -> list[str]:
        """Cancel the signer's pending order under ``uuid`` if it arrived no later than the
        cancel was signed (``signed_ms``): a cancel captured and sent again later cannot
        reach an order sent after it. Returns the cancelled ids."""
        key = self.uuids.get((signer, uuid))
        if key is None:
            return []
        entry = self._entry(key[0], signer, key[1])
        if entry is None or entry.status != "pending" or self.slots[key[0]].closed or entry.received_ms > signed_ms:
            return []
        state = self.slots[key[0]]
        # The writer is FIFO: this update lands after the order's own insert. The entry is
        # cancelled in memory at once, so a settlement starting meanwhile leaves it out;
        # if the write fails it is pending again, as on disk, and the cancel is not acknowledged.
        entry.status = "cancelled"
        self.uuids.pop((signer, uuid), None)
        scenario_id = entry.key
        try:
            await asyncio.shield(self._tracked_write(state, lambda db: dao.cancel_order(db, key[0], scenario_id)))
        except Exception:
            entry.status = "pending"
            self.uuids.setdefault((signer, uuid), key)
            self.health.write_failed()
            raise
        self.metrics.inc("mevauction_cancellations_total", help="Orders cancelled by their signer")
        return [entry.id]

    def seed_commitment(self, slot: int) -> str:
        return self.seeds.commitment(slot)

    @property
    def sealed(self) -> bool:
        """Builder bids come sealed by the builders (``serve --sealed``)."""
        return self.config.sealed

    def committee_info(self, params: object) -> dict:
        """``mev_getCommittee`` [blockNumber?]: the slot's auction id and the committee's keys."""
        if self.committee is None:
            raise InputError("method", "mev_getCommittee needs a service started with --sealed")
        requested = None
        if isinstance(params, list) and params:
            requested = fields.quantity(params[0], "params[0]")
        return self.committee.info(self.target_slot(requested).slot)

    async def builder_bid(self, bid: BuilderBid, signer: str, signed_ms: int) -> dict:
        """Store a registered builder's submission for a slot, within its free deposit
        (service/builders.py); the ack carries its commitment and salt. One signed later
        replaces it; one signed earlier (an old bid sent again) is refused. With a committee
        only its checked sealed bid (header and envelopes) is kept: there is no amount."""
        state = self.target_slot(bid.slot)
        current = state.builder_signed.get(signer)
        if current is not None and signed_ms <= current:
            raise InputError("timestamp", f"not later than this builder's current bid for slot {state.slot} "
                                          "(a bid replaces only one signed before it)")
        if self.committee is not None:
            bid = BuilderBid(bid.slot, self.committee.checked_bid(bid.submission, signer, state.slot))
        held = self.builders.admit(signer, state.slot, bid.submission.get("bid"), self.config.sealed)
        state.builder_signed[signer] = signed_ms
        received = now_ms()
        commitment, salt = commit(state.slot, signer, bid.submission)
        record = BuilderBidRecord(state.slot, signer, bid.submission, received, commitment)
        previous = self.builders.hold(state.slot, signer, held)  # before the await: no two bids share a deposit
        try:
            await asyncio.shield(self._tracked_write(state, lambda db: dao.upsert_builder_bid(db, record)))
        except Exception:  # not stored: the bid before it is still the current one
            self.builders.restore(state.slot, signer, previous)
            if current is None:
                state.builder_signed.pop(signer, None)
            else:
                state.builder_signed[signer] = current
            raise
        state.builders[signer] = bid.submission
        state.builder_times[signer] = received
        state.commitments[signer] = commitment
        self.metrics.inc("mevauction_builder_bids_total", help="Sealed builder submissions stored")
        return {"builder": signer, "slot": hex(state.slot), "commitment": commitment, "salt": salt}

    async def submit_algorithm(self, params: object, signer: str) -> dict:
        """``mev_submitAlgorithm``: a registered builder's new version (service/algorithms.py)."""
        return await algorithms.submit(self, params, signer)

    def algorithm_status(self, signer: str) -> dict:
        return algorithms.status(self, signer)

    async def own_order(self, signer: str, order_id: str, slot: int | None) -> OrderRecord | None:
        """The signer's order with this id (in ``slot``, or its newest); None for anyone else's."""
        return await self.store.read(lambda db: dao.signer_order(db, signer, order_id, slot))

    # -- the slot clock ----------------------------------------------------------------------
    async def _settle_loop(self) -> None:
        while True:
            if self.chain is not None:
                await self._chain_turn()
            if self.chain is None and self.preconf is not None:  # owed since before a crash or a failed write
                await preconf_block.settle_owed(self.store, self.preconf)
            if self.preconf is not None:  # a block whose only content is commitments is still built
                await preconf_block.settle_abandoned(self.preconf)
                floor = -1 if self.last_settled is None else self.last_settled
                for b in list(self.preconf.by_block):
                    if b > floor and b not in self.preconf.settled and b not in self.preconf.abandoned \
                            and self.preconf.committed(b):
                        self.state(b)
            due = sorted(s for s in self.slots if self.clock.deadline(s) <= time.time())
            for slot in due:
                try:
                    await self.settle_slot(slot)
                except Exception as exc:  # storage down: not even the slot's failure could be stored
                    self._settle_attempt_failed(slot, exc)
                    await asyncio.sleep(min(1.0, self.clock.slot_seconds))
            if self.chain is not None:  # after the deadlines: a slot that outlasted its length re-opens at head + 1
                floor = 0 if self.last_settled is None else self.last_settled + 1
                self.clock = await asyncio.to_thread(self.chain.follow, self.clock, floor)
            current = self.clock.current()
            self.metrics.set("mevauction_current_slot", current, help="The slot open for orders")
            self._prestart(current)
            await asyncio.sleep(max(0.0, self.clock.deadline(current) - time.time()) + 0.001)

    def _prestart(self, slot: int) -> None:
        """Start the jails of ``slot``'s algorithms now, in the process that will run them, so
        their start is not in its deadline's budget (service/algorithms.py ``prestart``)."""
        programs = algorithms.upcoming(self.algorithms, self.builders, self.config.algorithm_budget_ms, slot)
        # Asked once per slot, pool and set of versions (the loop may turn more than once a slot).
        asked = (id(self.pool), slot, tuple((b, p.name) for b, p in sorted(programs.programs.items())))
        if asked == self._prestarted:
            return
        self._prestarted = asked
        if self.pool is None:
            algorithms.prestart(programs, self.committee is not None)
        else:  # queued before the slot's auction in the one worker; its result is not awaited
            try:
                self.pool.submit(algorithms.prestart, programs, self.committee is not None)
            except (BrokenProcessPool, RuntimeError) as exc:  # the deadline's run replaces the pool
                log.error("could not start the next slot's jails ahead: %s", exc)

    def _settle_attempt_failed(self, slot: int, exc: Exception) -> None:
        """Count a failed attempt; after ``MAX_SETTLE_ATTEMPTS`` the slot is given up."""
        attempts = self.attempts[slot] = self.attempts.get(slot, 0) + 1
        log.error("settlement of slot %d failed (attempt %d): %s", slot, attempts, exc)
        self.metrics.inc("mevauction_settlement_failures_total", help="Settlement attempts that failed")
        self.health.write_failed()
        if attempts >= MAX_SETTLE_ATTEMPTS:
            log.error("slot %d given up after %d attempts; its orders stay pending on disk", slot, attempts)
            self.slots.pop(slot, None)
            self.attempts.pop(slot, None)
            self.health.slot_failed()
            if self.preconf is not None and self.chain is None:  # no block delivered: its commitments are void
                self.preconf.abandoned.add(slot)  # (on a chain the number opens again: they bind that block)

    async def settle_slot(self, slot: int) -> dict | None:
        """Close ``slot``, wait for its in-flight writes, run the auction, store the records.

        Raises only when the storage refuses even the record of the slot's failure."""
        state = self.slots[slot]
        state.closed = True
        if state.inflight:
            await state.drained.wait()
            # One more turn of the loop: a request whose write just failed undoes its entry first.
            await asyncio.sleep(0)
        pending = [e for e in sorted(state.orders.values(), key=lambda e: e.seq) if e.status == "pending"]
        if not pending and not (self.preconf is not None and self.preconf.committed(slot)):
            del self.slots[slot]
            self.builders.settled(slot, [])  # nothing to settle: release the bids' holds
            if self.chain is not None:  # no block: the same number opens again
                self.clock = self.chain.postponed(self.clock)
            return None
        deadline = self.clock.deadline(slot)
        sw: SlotWorld | None = None
        if self.chain is not None:
            try:
                sw = await asyncio.to_thread(self.chain.world_for, slot, self.clock.timestamp(slot))
            except SlotNotReady as exc:
                await self._not_ready(slot, state, str(exc))
                return None
            except BlockTaken as exc:
                settled = self._failed(slot, pending, str(exc))
                if self.preconf is not None:  # another block has the number: this provider's commitments are void
                    self.preconf.abandoned.add(slot)
        if sw is not None or self.chain is None:
            settled = await self._settlement(slot, state, pending, sw)
        owes = self.chain is None and self.preconf is not None  # its commitments settle against the report

        def write(db: Db, settled: SettledSlot) -> None:
            onchain.insert_settled(db, settled)
            if owes:
                dao.owe_preconf_settlement(db, slot, settled.block_txs, now_ms())
        try:
            await self.store.write(lambda db: write(db, settled))
        except StorageError as exc:
            log.error("slot %d: its records were refused by the storage (%s); storing it as failed", slot, exc)
            self.health.write_failed()
            settled = self._failed(slot, pending, f"storage: the slot's records were refused ({exc})")
            await self.store.write(lambda db: write(db, settled))
        self.builders.settled(slot, settled.deposits)
        if self.chain is not None and self.clock.ceiling == slot:  # closed: the next block is the open one now
            self.clock = dataclasses.replace(self.clock, ceiling=slot + 1)
        if settled.delivery is not None and self.chain is not None:
            await self._chain_turn()  # mines it (and any delivery before it that was cut short)
        elif owes:  # the delivered block is the report's
            assert self.preconf is not None
            await preconf_block.settle_owed(self.store, self.preconf)
        report = settled.slot.report
        if report.get("failed"):
            self.health.slot_failed()
            self.metrics.inc("mevauction_slots_failed_total", help="Slots stored as failed, with their reason")
        self.attempts.pop(slot, None)
        latency = max(0.0, time.time() - deadline)
        self.settle_seconds[slot] = latency
        self.metrics.observe("mevauction_settlement_seconds", latency,
                             help="From a slot's intake deadline to its stored report")
        self.metrics.inc("mevauction_slots_settled_total", help="Slots whose auction ran and was stored")
        self.parent_hash = settled.slot.block_hash
        self.last_settled = slot
        for e in pending:
            if e.uuid and self.uuids.get((e.signer, e.uuid)) == (slot, e.id):
                del self.uuids[(e.signer, e.uuid)]
        del self.slots[slot]
        return report

    # -- on a chain (serve --chain; service/onchain.py) ------------------------------------
    async def _not_ready(self, slot: int, state: SlotState, reason: str) -> None:
        """The node did not answer at the deadline: the slot failed this round, with the
        reason; its orders stay, and the next block (still this number) opens again."""
        assert self.chain is not None
        self.health.slot_failed()
        self.metrics.inc("mevauction_chain_failures_total", help="Deadlines at which the node could not build a block")
        await onchain.record_not_ready(self.store, slot, reason)
        state.closed = False
        self.clock = self.chain.postponed(self.clock)

    async def _chain_turn(self) -> None:
        assert self.chain is not None
        await onchain.turn(self.chain, self.store)
        if self.preconf is not None:
            try:
                await preconf_block.settle_mined(self.chain, self.store, self.preconf)
            except (NodeUnavailable, RpcError) as exc:  # settled at a later turn
                log.error("chain: node unavailable while settling preconfirmations: %s", exc)
