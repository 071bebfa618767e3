"""The relay data API (MEV-Boost relay spec, "data" endpoints) over this service's history.

- ``/relay/v1/data/bidtraces/proposer_payload_delivered``: one trace per settled slot
  (the winning block); filters ``slot``, ``cursor`` (slots ≤ cursor), ``limit``,
  ``block_hash``, ``block_number``, ``proposer_pubkey``, ``builder_pubkey``,
  ``order_by`` (``value`` / ``-value``; default newest slot first).
- ``/relay/v1/data/bidtraces/builder_blocks_received``: every block the slot's auction
  considered (the default algorithm's and each builder's); one of ``slot``,
  ``block_hash``, ``block_number`` or ``builder_pubkey`` is required, as on relays.
Numbers are decimal strings, as relays send them. Block numbers equal slot numbers
on this service. Bad filters answer HTTP 400 ``{"code": 400, "message": "<field>: ..."}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from mevauction.errors import require
from mevauction.eth import fields
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
    require(order_by in ("", "value", "-value"), "order_by", "must be 'value' or '-value'")
    return {"": "slot DESC", "value": "value_sort ASC, slot DESC", "-value": "value_sort DESC, slot DESC"}[order_by]


def _limit(query: Mapping[str, str], default: int) -> int:
    limit = _int_filter(query, "limit")
    require(limit is None or 0 < limit <= MAX_LIMIT, "limit", f"must be 1..{MAX_LIMIT}")
    return limit or default


def payload_delivered_query(query: Mapping[str, str]) -> tuple[str, list]:
    known = {"slot", "cursor", "limit", "block_hash", "block_number", "proposer_pubkey", "builder_pubkey", "order_by"}
    _no_unknown(query, known)
    where, args = [], []
    for column, value in (("slot", _int_filter(query, "slot")), ("block_hash", _hex_filter(query, "block_hash", 32)),
                          ("slot", _int_filter(query, "block_number")),
                          ("proposer_pubkey", _hex_filter(query, "proposer_pubkey", 48)),
                          ("builder_pubkey", _builder_filter(query))):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    cursor = _int_filter(query, "cursor")
    if cursor is not None:
        where.append("slot <= ?")
        args.append(cursor)
    sql = ("SELECT slot, parent_hash, block_hash, builder_pubkey, proposer_pubkey, fee_recipient, gas_limit, "
           "gas_used, value, num_tx, settled_ms FROM slots")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {_order(query)} LIMIT {_limit(query, 200)}"
    return sql, args


def builder_blocks_query(query: Mapping[str, str]) -> tuple[str, list]:
    known = {"slot", "block_hash", "block_number", "builder_pubkey", "limit", "order_by"}
    _no_unknown(query, known)
    where, args = [], []
    for column, value in (("b.slot", _int_filter(query, "slot")),
                          ("b.block_hash", _hex_filter(query, "block_hash", 32)),
                          ("b.slot", _int_filter(query, "block_number")),
                          ("b.builder_pubkey", _builder_filter(query))):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    require(bool(where), "slot", "need at least one of slot, block_hash, block_number, builder_pubkey")
    sql = ("SELECT b.slot, s.parent_hash, b.block_hash, b.builder_pubkey, s.proposer_pubkey, s.fee_recipient, "
           "s.gas_limit, b.gas_used, b.value, b.num_tx, b.timestamp_ms, b.valid FROM builder_blocks b "
           "JOIN slots s ON s.slot = b.slot WHERE " + " AND ".join(where))
    sql += f" ORDER BY {_order(query).replace('slot', 'b.slot').replace('value_sort', 'b.value_sort')}, b.builder"
    sql += f" LIMIT {_limit(query, MAX_LIMIT)}"
    return sql, args


def _no_unknown(query: Mapping[str, str], known: set[str]) -> None:
    unknown = sorted(set(query) - known)
    require(not unknown, unknown[0] if unknown else "", f"unknown filter (known: {', '.join(sorted(known))})")


def trace(row: tuple, received: bool) -> dict:
    slot, parent, bhash, builder, proposer, fee_recipient, gas_limit, gas_used, value, num_tx, ts_ms = row[:11]
    item = {"slot": str(slot), "parent_hash": parent, "block_hash": bhash, "builder_pubkey": builder,
            "proposer_pubkey": proposer, "proposer_fee_recipient": fee_recipient, "gas_limit": str(gas_limit),
            "gas_used": str(gas_used), "value": str(value), "num_tx": str(num_tx), "block_number": str(slot)}
    if received:
        item["timestamp"] = str(int(ts_ms) // 1000)
        item["timestamp_ms"] = str(ts_ms)
        item["valid"] = bool(row[11])
    return item


def payload_delivered(db: Db, query: Mapping[str, str]) -> list[dict]:
    sql, args = payload_delivered_query(query)
    return [trace(r, False) for r in db.all(sql, args)]


def builder_blocks_received(db: Db, query: Mapping[str, str]) -> list[dict]:
    sql, args = builder_blocks_query(query)
    return [trace(r, True) for r in db.all(sql, args)]


