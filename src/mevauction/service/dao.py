"""Every query the service runs, as named functions over typed records.

Statements are SQLAlchemy Core built from :mod:`mevauction.service.schema`; writes
bind their values by column name (a record becomes a dict of its table's columns),
so a column added by a migration cannot shift the others, and rows are read by
column name. Write statements are module-level so that :class:`~mevauction.service.store.Db`
compiles each once. The layout of a record in its row lives here and nowhere else:
wei as decimal text (with an 80-digit sort key where rows are ordered by value), JSON
documents as text, flags as 0/1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, literal, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert

from mevauction.service.intake import canonical
from mevauction.service.records import (
    BidTrace,
    BuilderBidRecord,
    BuilderRegistration,
    ChainHead,
    DepositEntry,
    IncludedOrder,
    OrderRecord,
    PreconfBidRecord,
    PreconfMessageRecord,
    SettledSlot,
    SlotSummary,
    TraceFilter,
)
from mevauction.service.schema import (
    builder_bids,
    builder_blocks,
    builder_ledger,
    builders,
    meta,
    orders,
    preconf_bids,
    preconf_delivered,
    preconf_ledger,
    preconf_messages,
    preconf_outcomes,
    settlements,
    slots,
)
from mevauction.service.store import Db

SORT_DIGITS = 80  # wei amounts below 10**80 order correctly as text


def value_sort(value: int) -> str:
    """The sort key of an amount: zero-padded decimal, so text order is numeric order."""
    return f"{value:0{SORT_DIGITS}d}"


def _upserts(table: Any, keys: list[str], updated: list[str]) -> dict[str, Insert]:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` of ``updated``, per dialect name."""
    out: dict[str, Insert] = {}
    for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", postgres_insert)):
        stmt = insert(table)
        out[dialect] = stmt.on_conflict_do_update(index_elements=keys,
                                                  set_={c: stmt.excluded[c] for c in updated})
    return out


# -- meta: the slot clock ------------------------------------------------------------------
UPSERT_META = _upserts(meta, ["key"], ["value"])


def read_meta(db: Db) -> dict[str, str]:
    return {r["key"]: r["value"] for r in db.rows(select(meta.c.key, meta.c.value))}


def write_meta(db: Db, items: Mapping[str, str]) -> None:
    db.executemany(UPSERT_META[db.dialect.name], [{"key": k, "value": v} for k, v in items.items()])


# -- orders ----------------------------------------------------------------------------
# Updates find an order by (slot, scenario_id): unique per slot, what settlement reports.
INSERT_ORDER = orders.insert()
SET_ORDER_CANCELLED = orders.update().where(
    orders.c.slot == bindparam("b_slot"), orders.c.scenario_id == bindparam("b_key")).values(
    status="cancelled", note=bindparam("b_note"))
SET_PENDING_ORDER_CANCELLED = SET_ORDER_CANCELLED.where(orders.c.status == "pending")
SET_ORDER_OUTCOME = orders.update().where(
    orders.c.slot == bindparam("b_slot"), orders.c.scenario_id == bindparam("b_key")).values(
    status=bindparam("b_status"), payment=bindparam("b_payment"), refund=bindparam("b_refund"),
    note=bindparam("b_note"))


def _amount(text: str | None) -> int | None:
    return None if text is None else int(text)


def _text(amount: int | None) -> str | None:
    return None if amount is None else str(amount)


def insert_order(db: Db, rec: OrderRecord) -> None:
    db.execute(INSERT_ORDER, {
        "slot": rec.slot, "id": rec.id, "scenario_id": rec.key, "seq": rec.seq, "kind": rec.kind,
        "signer": rec.signer, "replacement_uuid": rec.replacement_uuid, "params": canonical(rec.params),
        "scenario_order": canonical(rec.scenario_order), "received_ms": rec.received_ms, "status": rec.status,
        "payment": _text(rec.payment), "refund": _text(rec.refund), "note": rec.note})


def replace_order(db: Db, slot: int, key: str, by: str) -> None:
    """A new order under the same replacementUuid cancels the old one (scenario id ``key``),
    if still pending."""
    db.execute(SET_PENDING_ORDER_CANCELLED, {"b_slot": slot, "b_key": key, "b_note": f"replaced by {by}"})


def cancel_order(db: Db, slot: int, key: str) -> None:
    db.execute(SET_ORDER_CANCELLED, {"b_slot": slot, "b_key": key, "b_note": "cancelled by eth_cancelBundle"})


def _order(row: dict[str, Any]) -> OrderRecord:
    return OrderRecord(
        slot=int(row["slot"]), id=row["id"], seq=int(row["seq"]), kind=row["kind"], signer=row["signer"],
        replacement_uuid=row["replacement_uuid"], params=json.loads(row["params"]),
        scenario_order=json.loads(row["scenario_order"]), received_ms=int(row["received_ms"]),
        status=row["status"], payment=_amount(row["payment"]), refund=_amount(row["refund"]), note=row["note"],
        scenario_id=None if row["scenario_id"] == row["id"] else row["scenario_id"])


def unsettled_orders(db: Db) -> list[OrderRecord]:
    """Orders of slots with no stored settlement, in arrival order."""
    stmt = (select(*orders.c).select_from(orders.outerjoin(slots, slots.c.slot == orders.c.slot))
            .where(slots.c.slot.is_(None)).order_by(orders.c.seq))
    return [_order(r) for r in db.rows(stmt)]


def max_order_seq(db: Db) -> int:
    row = db.first(select(func.max(orders.c.seq).label("top")))
    return int(row["top"]) if row and row["top"] is not None else 0


def signer_order(db: Db, signer: str, order_id: str, slot: int | None) -> OrderRecord | None:
    """The signer's own order with this id: in ``slot``, or (None) in the newest slot it used it.
    Ids are the signer's: another signer's order with the same id is never this one."""
    stmt = select(*orders.c).where(orders.c.signer == signer, orders.c.id == order_id)
    if slot is not None:
        stmt = stmt.where(orders.c.slot == slot)
    row = db.first(stmt.order_by(orders.c.slot.desc()))
    return _order(row) if row else None


def included_order(db: Db, order_id: str, slot: int | None) -> IncludedOrder | None:
    """The order with this id that a settled block included: in ``slot``, or (None) the
    earliest such, so that re-sending the same id later takes over no look-up."""
    stmt = (select(*orders.c, slots.c.block_hash).select_from(orders.join(slots, slots.c.slot == orders.c.slot))
            .where(orders.c.id == order_id, orders.c.status == "included"))
    if slot is not None:
        stmt = stmt.where(orders.c.slot == slot)
    row = db.first(stmt.order_by(orders.c.slot, orders.c.seq))
    return IncludedOrder(_order(row), row["block_hash"]) if row else None


# -- builder bids --------------------------------------------------------------------------
UPSERT_BUILDER_BID = _upserts(builder_bids, ["slot", "builder"], ["submission", "received_ms", "commitment"])


def upsert_builder_bid(db: Db, rec: BuilderBidRecord) -> None:
    """Store a builder's submission; a later one for the same slot replaces it."""
    db.execute(UPSERT_BUILDER_BID[db.dialect.name], {
        "slot": rec.slot, "builder": rec.builder, "submission": canonical(rec.submission),
        "received_ms": rec.received_ms, "commitment": rec.commitment})


def unsettled_builder_bids(db: Db) -> list[BuilderBidRecord]:
    stmt = (select(*builder_bids.c).select_from(builder_bids.outerjoin(slots, slots.c.slot == builder_bids.c.slot))
            .where(slots.c.slot.is_(None)))
    return [BuilderBidRecord(int(r["slot"]), r["builder"], json.loads(r["submission"]), int(r["received_ms"]),
                             r["commitment"]) for r in db.rows(stmt)]


# -- the builder registry and the deposit ledger ---------------------------------------------
INSERT_BUILDER = builders.insert()
INSERT_DEPOSIT_ENTRY = builder_ledger.insert()


def replace_builders(db: Db, registry: Sequence[BuilderRegistration]) -> None:
    """Record the registry the service runs with (the operator's configuration is its source)."""
    db.execute(builders.delete())
    db.executemany(INSERT_BUILDER, [{"address": b.address, "deposit": str(b.deposit)} for b in registry])


def registered_builders(db: Db) -> list[BuilderRegistration]:
    return [BuilderRegistration(r["address"], int(r["deposit"]))
            for r in db.rows(select(*builders.c).order_by(builders.c.address))]


def deposit_entries(db: Db, slot: int | None = None) -> list[DepositEntry]:
    """The deposit ledger (of one slot, if given), by slot."""
    stmt = select(*builder_ledger.c).order_by(builder_ledger.c.slot, builder_ledger.c.builder, builder_ledger.c.entry)
    if slot is not None:
        stmt = stmt.where(builder_ledger.c.slot == slot)
    return [DepositEntry(int(r["slot"]), r["builder"], r["entry"], int(r["amount"])) for r in db.rows(stmt)]


# -- settled slots -------------------------------------------------------------------------
INSERT_SLOT = slots.insert()
INSERT_BUILDER_BLOCK = builder_blocks.insert()
INSERT_SETTLEMENT = settlements.insert()


def insert_settled_slot(db: Db, settled: SettledSlot) -> None:
    """The slot's report and trace, each order's outcome, the blocks considered, the ledger."""
    s = settled.slot
    db.execute(INSERT_SLOT, {
        "slot": s.slot, "world": canonical(s.world), "report": canonical(s.report), "settled_ms": s.settled_ms,
        "block_hash": s.block_hash, "parent_hash": s.parent_hash, "winner": s.winner,
        "builder_pubkey": s.builder_pubkey, "proposer_pubkey": s.proposer_pubkey, "fee_recipient": s.fee_recipient,
        "gas_limit": s.gas_limit, "gas_used": s.gas_used, "num_tx": s.num_tx, "value": str(s.value),
        "value_sort": value_sort(s.value), "refunds": str(s.refunds)})
    db.executemany(SET_ORDER_OUTCOME, [
        {"b_slot": o.slot, "b_key": o.id, "b_status": o.status, "b_payment": str(o.payment),
         "b_refund": str(o.refund), "b_note": o.note} for o in settled.outcomes])
    db.executemany(INSERT_BUILDER_BLOCK, [
        {"slot": b.slot, "builder": b.builder, "block_hash": b.block_hash, "builder_pubkey": b.builder_pubkey,
         "valid": int(b.valid), "gas_used": b.gas_used, "num_tx": b.num_tx, "value": _text(b.value),
         "value_sort": None if b.value is None else value_sort(b.value), "timestamp_ms": b.timestamp_ms,
         "commitment": b.commitment} for b in settled.builder_blocks])
    db.executemany(INSERT_SETTLEMENT, [
        {"slot": p.slot, "party": p.party, "role": p.role, "paid": str(p.paid), "received": str(p.received)}
        for p in settled.settlements])
    if settled.deposits:
        db.executemany(INSERT_DEPOSIT_ENTRY, [
            {"slot": e.slot, "builder": e.builder, "entry": e.entry, "amount": str(e.amount)}
            for e in settled.deposits])


def chain_head(db: Db) -> ChainHead | None:
    row = db.first(select(slots.c.slot, slots.c.block_hash).order_by(slots.c.slot.desc()))
    return ChainHead(int(row["slot"]), row["block_hash"]) if row else None


def slot_report(db: Db, slot: int) -> dict | None:
    row = db.first(select(slots.c.report).where(slots.c.slot == slot))
    return json.loads(row["report"]) if row else None


def slot_history(db: Db, limit: int) -> list[SlotSummary]:
    """The newest ``limit`` settled slots, newest first."""
    stmt = (select(slots.c.slot, slots.c.winner, slots.c.value, slots.c.refunds, slots.c.num_tx,
                   slots.c.block_hash, slots.c.settled_ms).order_by(slots.c.slot.desc()).limit(limit))
    return [SlotSummary(int(r["slot"]), r["winner"], int(r["value"]), int(r["refunds"]), int(r["num_tx"]),
                        r["block_hash"], int(r["settled_ms"])) for r in db.rows(stmt)]


def ping(db: Db) -> None:
    """A round trip to the database (health check)."""
    db.rows(select(literal(1).label("one")))


# -- the relay data API --------------------------------------------------------------------
ORDER_BY = ("", "value", "-value")  # newest slot first; by value ascending; descending


def _trace_order(order_by: str, slot: Any, sort_key: Any) -> list[ColumnElement]:
    # Unpublished (losing) values sort after the published ones either way, on both dialects.
    by_value = {"": [], "value": [sort_key.asc().nulls_last()], "-value": [sort_key.desc().nulls_last()]}[order_by]
    return [*by_value, slot.desc()]


def _trace_where(stmt: Select, f: TraceFilter, table: Any) -> Select:
    for column, value in ((table.c.slot, f.slot), (table.c.block_hash, f.block_hash), (table.c.slot, f.block_number),
                          (slots.c.proposer_pubkey, f.proposer_pubkey), (table.c.builder_pubkey, f.builder_pubkey)):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.cursor is not None:
        stmt = stmt.where(table.c.slot <= f.cursor)
    return stmt


def _trace(row: dict[str, Any]) -> BidTrace:
    valid = row.get("valid")
    return BidTrace(
        slot=int(row["slot"]), parent_hash=row["parent_hash"], block_hash=row["block_hash"],
        builder_pubkey=row["builder_pubkey"], proposer_pubkey=row["proposer_pubkey"],
        fee_recipient=row["fee_recipient"], gas_limit=int(row["gas_limit"]), gas_used=int(row["gas_used"]),
        value=_amount(row["value"]), num_tx=int(row["num_tx"]), timestamp_ms=int(row["timestamp_ms"]),
        valid=None if valid is None else bool(valid), commitment=row.get("commitment"))


def delivered_payloads(db: Db, f: TraceFilter, order_by: str, limit: int) -> list[BidTrace]:
    """The winning block of each settled slot that passes the filters."""
    stmt = select(slots.c.slot, slots.c.parent_hash, slots.c.block_hash, slots.c.builder_pubkey,
                  slots.c.proposer_pubkey, slots.c.fee_recipient, slots.c.gas_limit, slots.c.gas_used,
                  slots.c.value, slots.c.num_tx, slots.c.settled_ms.label("timestamp_ms"))
    stmt = _trace_where(stmt, f, slots).order_by(*_trace_order(order_by, slots.c.slot, slots.c.value_sort))
    return [_trace(r) for r in db.rows(stmt.limit(limit))]


def received_blocks(db: Db, f: TraceFilter, order_by: str, limit: int) -> list[BidTrace]:
    """Every block the auctions of the filtered slots considered, with its validity."""
    b = builder_blocks
    stmt = (select(b.c.slot, slots.c.parent_hash, b.c.block_hash, b.c.builder_pubkey, slots.c.proposer_pubkey,
                   slots.c.fee_recipient, slots.c.gas_limit, b.c.gas_used, b.c.value, b.c.num_tx, b.c.timestamp_ms,
                   b.c.valid, b.c.commitment)
            .select_from(b.join(slots, slots.c.slot == b.c.slot)))
    stmt = _trace_where(stmt, f, b).order_by(*_trace_order(order_by, b.c.slot, b.c.value_sort), b.c.builder)
    return [_trace(r) for r in db.rows(stmt.limit(limit))]


# -- preconfirmations ----------------------------------------------------------------------
INSERT_PRECONF_BID = preconf_bids.insert()
# A message's seq numbers the messages about its digest, from 0 in the order stored.
INSERT_PRECONF_MESSAGE = preconf_messages.insert().values(
    digest=bindparam("m_digest"),
    seq=select(func.count()).select_from(preconf_messages)
    .where(preconf_messages.c.digest == bindparam("m_digest")).scalar_subquery(),
    kind=bindparam("m_kind"), message=bindparam("m_message"), bid_key=bindparam("m_bid_key"),
    stored_ms=bindparam("m_stored_ms"))


def insert_preconf_bid(db: Db, rec: PreconfBidRecord) -> None:
    db.execute(INSERT_PRECONF_BID, {
        "seq": rec.seq, "digest": rec.digest, "signature": rec.signature, "bidder": rec.bidder,
        "block_number": rec.block_number, "received_ms": rec.received_ms, "signed_bid": json.dumps(rec.signed_bid)})


def insert_preconf_messages(db: Db, messages: Sequence[PreconfMessageRecord]) -> None:
    db.executemany(INSERT_PRECONF_MESSAGE, [
        {"m_digest": m.digest, "m_kind": m.kind, "m_message": json.dumps(m.message), "m_bid_key": m.bid_key,
         "m_stored_ms": m.stored_ms} for m in messages])


def _preconf_bids(db: Db, stmt) -> list[PreconfBidRecord]:
    return [PreconfBidRecord(int(r["seq"]), r["digest"], r["signature"], r["bidder"], int(r["block_number"]),
                             int(r["received_ms"]), json.loads(r["signed_bid"])) for r in db.rows(stmt)]


def _preconf_messages(db: Db, stmt) -> list[PreconfMessageRecord]:
    return [PreconfMessageRecord(r["digest"], r["kind"], json.loads(r["message"]), r["bid_key"],
                                 int(r["stored_ms"]) if r["stored_ms"] is not None else None) for r in db.rows(stmt)]


def preconf_bids_in_order(db: Db) -> list[PreconfBidRecord]:
    """Every stored preconfirmation bid, in arrival order."""
    return _preconf_bids(db, select(*preconf_bids.c).order_by(preconf_bids.c.seq))


def preconf_bids_in_order_for_block(db: Db, block_number: int) -> list[PreconfBidRecord]:
    """The stored bids for one block, in arrival order."""
    return _preconf_bids(db, select(*preconf_bids.c).where(preconf_bids.c.block_number == block_number)
                         .order_by(preconf_bids.c.seq))


def preconf_bids_with_digest(db: Db, digest: str) -> list[PreconfBidRecord]:
    """The stored bids with this digest (hex), in arrival order."""
    return _preconf_bids(db, select(*preconf_bids.c).where(preconf_bids.c.digest == digest)
                         .order_by(preconf_bids.c.seq))


def preconf_messages_in_order(db: Db) -> list[PreconfMessageRecord]:
    """Every stored message, grouped by digest, in the order each was stored."""
    return _preconf_messages(db, select(*preconf_messages.c)
                             .order_by(preconf_messages.c.digest, preconf_messages.c.seq))


def preconf_messages_about(db: Db, digest: str) -> list[PreconfMessageRecord]:
    """The stored messages about one bid digest (hex), in the order they were stored."""
    return _preconf_messages(db, select(*preconf_messages.c).where(preconf_messages.c.digest == digest)
                             .order_by(preconf_messages.c.seq))


def insert_preconf_settlement(db: Db, block_number: int, outcomes: Sequence[dict], entries: Sequence[dict],
                              settled_ms: int) -> None:
    """One block's commitment outcomes and ledger entries, in one transaction (the caller's);
    the settlement the block owed (:func:`owe_preconf_settlement`) is no longer owed."""
    db.execute(preconf_delivered.delete().where(preconf_delivered.c.block_number == block_number))
    if outcomes:
        db.executemany(preconf_outcomes.insert(), [
            {"block_number": block_number, "bid_key": o["bidKey"], "commitment_digest": o["commitmentDigest"],
             "bidder": o["bidder"], "outcome": o["outcome"], "settlement": json.dumps(o), "settled_ms": settled_ms}
            for o in outcomes])
    if entries:
        db.executemany(preconf_ledger.insert(), [
            {"block_number": block_number, "seq": i, "commitment_digest": e["commitmentDigest"], "source": e["from"],
             "dest": e["to"], "amount": e["amount"], "kind": e["kind"]} for i, e in enumerate(entries)])


def owe_preconf_settlement(db: Db, block_number: int, block_txs: Sequence[dict] | None, stored_ms: int) -> None:
    """Without a chain: the delivered block (None: none was) of a block with stored
    preconfirmation bids, in the transaction of the slot's report. Nothing when it has
    none: only a block with bids owes a settlement, and nothing when it is settled already
    (its commitments were voided when its slot was given up, and the slot ran again after
    a restart: it delivers a block, but its commitments are done)."""
    if db.first(select(preconf_bids.c.seq).where(preconf_bids.c.block_number == block_number)) is None:
        return
    if db.first(select(preconf_outcomes.c.bid_key).where(preconf_outcomes.c.block_number == block_number)):
        return
    db.execute(preconf_delivered.insert(), {"block_number": block_number, "stored_ms": stored_ms,
                                            "block_txs": None if block_txs is None else json.dumps(list(block_txs))})


def preconf_settlements_owed(db: Db) -> list[tuple[int, list[dict] | None]]:
    """Delivered blocks whose settlement is still owed, oldest first: (number, txs or None)."""
    rows = db.rows(select(*preconf_delivered.c).order_by(preconf_delivered.c.block_number))
    return [(int(r["block_number"]), None if r["block_txs"] is None else json.loads(r["block_txs"])) for r in rows]


def preconf_blocks_unsettled(db: Db) -> list[int]:
    """Blocks with a stored commitment but no stored settlement and none owed, oldest first."""
    number = preconf_bids.c.block_number
    stmt = (select(number).distinct()
            .select_from(preconf_bids.join(preconf_messages, preconf_messages.c.digest == preconf_bids.c.digest))
            .where(preconf_messages.c.kind == "commitment",
                   ~exists().where(preconf_outcomes.c.block_number == number),
                   ~exists().where(preconf_delivered.c.block_number == number))
            .order_by(number))
    return [int(r["block_number"]) for r in db.rows(stmt)]


def slot_orders(db: Db, slot: int) -> list[OrderRecord]:
    """Every order stored for ``slot`` (any status), in arrival order."""
    return [_order(r) for r in db.rows(select(*orders.c).where(orders.c.slot == slot).order_by(orders.c.seq))]


def slot_world(db: Db, slot: int) -> dict | None:
    """The world object a settled slot's records were made in (None: no records)."""
    row = db.first(select(slots.c.world).where(slots.c.slot == slot))
    return json.loads(row["world"]) if row else None


def preconf_outcomes_all(db: Db) -> list[dict]:
    """Every settled commitment's outcome (as stored), by block."""
    rows = db.rows(select(*preconf_outcomes.c).order_by(preconf_outcomes.c.block_number))
    return [{**json.loads(r["settlement"]), "blockNumber": int(r["block_number"])} for r in rows]


def delete_preconf_settlement(db: Db, block_number: int) -> None:
    """A block's stored settlement, removed to be replaced (it was reorganised away)."""
    db.execute(preconf_outcomes.delete().where(preconf_outcomes.c.block_number == block_number))
    db.execute(preconf_ledger.delete().where(preconf_ledger.c.block_number == block_number))


def preconf_outcomes_of(db: Db, block_number: int) -> list[dict]:
    rows = db.rows(select(*preconf_outcomes.c).where(preconf_outcomes.c.block_number == block_number))
    return [json.loads(r["settlement"]) for r in rows]


def preconf_ledger_of(db: Db, block_number: int) -> list[dict]:
    rows = db.rows(select(*preconf_ledger.c).where(preconf_ledger.c.block_number == block_number)
                   .order_by(preconf_ledger.c.seq))
    return [{"commitmentDigest": r["commitment_digest"], "from": r["source"], "to": r["dest"],
             "amount": r["amount"], "kind": r["kind"]} for r in rows]
