"""The deliveries table: each slot's block on the chain, from plan to mined (or not).

A delivery row is written in the same transaction as the slot's report, before any
transaction goes to the node (so a service killed mid-delivery finds the exact plan
again, with the same signed settlement transactions, and finishes or reconciles it);
it is then updated as the block is mined, checked, verified, or found reorganised away.
When it is mined, the slot's published block hash (relay data API, history) becomes
the real block's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select

from mevauction.service.intake import canonical
from mevauction.service.schema import builder_blocks, chain_failures, deliveries, slots
from mevauction.service.store import Db

PLANNED, MINED, MISMATCH, FAILED, REORGED = "planned", "mined", "mismatch", "failed", "reorged"


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    slot: int
    block_number: int
    coinbase: str
    plan: dict  # mevauction.delivery.plan.BlockPlan.to_json()
    status: str = PLANNED
    block_hash: str | None = None
    reason: str | None = None
    verification: dict | None = None
    updated_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "number": self.block_number, "hash": self.block_hash,
                "coinbase": self.coinbase, "reason": self.reason, "verification": self.verification,
                **{k: self.plan[k] for k in ("timestamp", "base_fee", "funding", "txs", "payouts")},
                "bundles": self.plan.get("bundles", {})}


INSERT = deliveries.insert()
UPDATE = deliveries.update().where(deliveries.c.slot == bindparam("b_slot")).values(
    status=bindparam("b_status"), block_hash=bindparam("b_hash"), reason=bindparam("b_reason"),
    updated_ms=bindparam("b_ms"))
VERIFIED = deliveries.update().where(deliveries.c.slot == bindparam("b_slot")).values(
    verification=bindparam("b_verification"))
SLOT_HASH = slots.update().where(slots.c.slot == bindparam("b_slot")).values(block_hash=bindparam("b_hash"))
WINNER_HASH = builder_blocks.update().where(
    builder_blocks.c.slot == bindparam("b_slot"), builder_blocks.c.builder == bindparam("b_builder")).values(
    block_hash=bindparam("b_hash"))
FAILURE = chain_failures.insert()


def insert(db: Db, record: DeliveryRecord) -> None:
    db.execute(INSERT, {"slot": record.slot, "block_number": record.block_number, "coinbase": record.coinbase,
                        "plan": canonical(record.plan), "status": record.status, "block_hash": None,
                        "reason": None, "verification": None, "updated_ms": record.updated_ms})


def mark(db: Db, slot: int, status: str, block_hash: str | None, reason: str | None, now_ms: int,
         winner: str | None = None) -> None:
    """A delivery's new status; once mined, the slot's (and its winning block's) hash is the chain's."""
    db.execute(UPDATE, {"b_slot": slot, "b_status": status, "b_hash": block_hash, "b_reason": reason,
                        "b_ms": now_ms})
    if status in (MINED, MISMATCH) and block_hash:
        db.execute(SLOT_HASH, {"b_slot": slot, "b_hash": block_hash})
        if winner is not None:
            db.execute(WINNER_HASH, {"b_slot": slot, "b_builder": winner, "b_hash": block_hash})


def verified(db: Db, slot: int, verification: dict) -> None:
    db.execute(VERIFIED, {"b_slot": slot, "b_verification": canonical(verification)})


def failure(db: Db, slot: int, now_ms: int, reason: str) -> None:
    db.execute(FAILURE, {"slot": slot, "at_ms": now_ms, "reason": reason})


def _record(row: dict) -> DeliveryRecord:
    return DeliveryRecord(int(row["slot"]), int(row["block_number"]), row["coinbase"], json.loads(row["plan"]),
                          row["status"], row["block_hash"], row["reason"],
                          json.loads(row["verification"]) if row["verification"] else None, int(row["updated_ms"]))


def of_slot(db: Db, slot: int) -> DeliveryRecord | None:
    row = db.first(select(deliveries).where(deliveries.c.slot == slot))
    return _record(row) if row else None


def unfinished(db: Db) -> list[DeliveryRecord]:
    return [_record(r) for r in db.rows(select(deliveries).where(deliveries.c.status == PLANNED)
                                        .order_by(deliveries.c.slot))]


def recent(db: Db, limit: int) -> list[DeliveryRecord]:
    return [_record(r) for r in db.rows(select(deliveries).order_by(deliveries.c.slot.desc()).limit(limit))]


def failures(db: Db, slot: int | None = None, limit: int = 50) -> list[dict]:
    stmt = select(chain_failures).order_by(chain_failures.c.at_ms.desc()).limit(limit)
    if slot is not None:
        stmt = stmt.where(chain_failures.c.slot == slot)
    return [{"slot": int(r["slot"]), "at_ms": int(r["at_ms"]), "reason": r["reason"]} for r in db.rows(stmt)]


def fee_recipient(db: Db, slot: int) -> str:
    row = db.first(select(slots.c.fee_recipient).where(slots.c.slot == slot))
    return row["fee_recipient"] if row else ""
