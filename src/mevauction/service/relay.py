"""The relay data API (MEV-Boost relay spec, "data" endpoints) over this service's history.

- ``/relay/v1/data/bidtraces/proposer_payload_delivered``: one trace per settled slot
  (the winning block); filters ``slot``, ``cursor`` (slots ≤ cursor), ``limit``,
  ``block_hash``, ``block_number``, ``proposer_pubkey``, ``builder_pubkey``,
  ``order_by`` (``value`` / ``-value``; default newest slot first).
- ``/relay/v1/data/bidtraces/builder_blocks_received``: every block the slot's auction
  considered (the default algorithm's and each builder's); one of ``slot``,
  ``block_hash``, ``block_number`` or ``builder_pubkey`` is required, as on relays.
  Deviation from relays, which publish every submission's ``value``: a losing bid is
  never published, so ``value`` is on the winning block and on the default block o*
  (its value β0 is the public reserve) only, and every builder submission carries
  ``bid_commitment`` (keccak256 over slot, builder, submission and a salt that only the
  builder got back), ``null`` for o*. Ordering by value puts unpublished values last.
Numbers are decimal strings, as relays send them. Block numbers equal slot numbers
on this service. Bad filters answer HTTP 400 ``{"code": 400, "message": "<field>: ..."}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from mevauction.errors import require
from mevauction.eth import fields
from mevauction.service import dao
from mevauction.service.records import BidTrace, TraceFilter
from mevauction.service.store import Db

MAX_LIMIT = 500


def _int_filter(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    return fields.decimal(value, name, fields.UINT64_MAX)


def _hex_filter(query: Mapping[str, str], name: str, size: int) -> str | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    return "0x" + fields.data(value, name, length=size).hex()


def _builder_filter(query: Mapping[str, str]) -> str | None:
    value = query.get("builder_pubkey")
    if value is None or value == "":
        return None
    require(value.startswith("0x") and len(value) in (42, 98), "builder_pubkey", "must be a 0x builder identifier")
    return value.lower()


def _order(query: Mapping[str, str]) -> str:
    order_by = query.get("order_by", "")
    require(order_by in dao.ORDER_BY, "order_by", "must be 'value' or '-value'")
    return order_by


def _limit(query: Mapping[str, str], default: int) -> int:
    limit = _int_filter(query, "limit")
    require(limit is None or 0 < limit <= MAX_LIMIT, "limit", f"must be 1..{MAX_LIMIT}")
    return limit or default


def payload_delivered_filter(query: Mapping[str, str]) -> TraceFilter:
    known = {"slot", "cursor", "limit", "block_hash", "block_number", "proposer_pubkey", "builder_pubkey", "order_by"}
    _no_unknown(query, known)
    return TraceFilter(slot=_int_filter(query, "slot"), block_hash=_hex_filter(query, "block_hash", 32),
                       block_number=_int_filter(query, "block_number"),
                       proposer_pubkey=_hex_filter(query, "proposer_pubkey", 48),
                       builder_pubkey=_builder_filter(query), cursor=_int_filter(query, "cursor"))


def builder_blocks_filter(query: Mapping[str, str]) -> TraceFilter:
    known = {"slot", "block_hash", "block_number", "builder_pubkey", "limit", "order_by"}
    _no_unknown(query, known)
    f = TraceFilter(slot=_int_filter(query, "slot"), block_hash=_hex_filter(query, "block_hash", 32),
                    block_number=_int_filter(query, "block_number"), builder_pubkey=_builder_filter(query))
    require(any(v is not None for v in (f.slot, f.block_hash, f.block_number, f.builder_pubkey)),
            "slot", "need at least one of slot, block_hash, block_number, builder_pubkey")
    return f


def _no_unknown(query: Mapping[str, str], known: set[str]) -> None:
    unknown = sorted(set(query) - known)
    require(not unknown, unknown[0] if unknown else "", f"unknown filter (known: {', '.join(sorted(known))})")


def trace(t: BidTrace, received: bool) -> dict:
    item: dict[str, str | bool | None] = {
        "slot": str(t.slot), "parent_hash": t.parent_hash, "block_hash": t.block_hash,
        "builder_pubkey": t.builder_pubkey, "proposer_pubkey": t.proposer_pubkey,
        "proposer_fee_recipient": t.fee_recipient, "gas_limit": str(t.gas_limit), "gas_used": str(t.gas_used)}
    if t.value is not None:  # a losing bid is not published
        item["value"] = str(t.value)
    item.update({"num_tx": str(t.num_tx), "block_number": str(t.slot)})
    if received:
        item["timestamp"] = str(t.timestamp_ms // 1000)
        item["timestamp_ms"] = str(t.timestamp_ms)
        item["valid"] = bool(t.valid)
        item["bid_commitment"] = t.commitment
    return item


def payload_delivered(db: Db, query: Mapping[str, str]) -> list[dict]:
    f = payload_delivered_filter(query)
    found = dao.delivered_payloads(db, f, _order(query), _limit(query, 200))
    return [trace(t, False) for t in found]


def builder_blocks_received(db: Db, query: Mapping[str, str]) -> list[dict]:
    f = builder_blocks_filter(query)
    found = dao.received_blocks(db, f, _order(query), _limit(query, MAX_LIMIT))
    return [trace(t, True) for t in found]
