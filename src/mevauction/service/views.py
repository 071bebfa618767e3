"""What is shown of an order, to whom, and when.

- While its slot is open an order is private: public endpoints show counts only.
- Its signer reads it at any time with a signed JSON-RPC request:
  ``flashbots_getBundleStatsV2`` (Flashbots shape, params ``[{bundleHash, blockNumber}]``)
  and ``mev_getOrderStatus`` (params ``[{orderId | bundleHash, blockNumber?}]``, any kind;
  without ``blockNumber`` the signer's newest order with that id). Anyone else — another
  signer — gets exactly the answer an id never sent gets: the look-up is no oracle.
- After settlement, an order its slot's block included is public with what verification
  needs (payment, refund, transaction hashes, the block); an excluded order stays its
  signer's, and the public slot report keeps only the included orders' settlements.

Amounts are decimal strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mevauction.errors import InputError, require
from mevauction.eth import fields
from mevauction.service.intake import parse_slot, single_params, unlabelled
from mevauction.service.records import IncludedOrder, OrderRecord
from mevauction.service.settle import without_losing_bids

BUNDLE_STATS = "flashbots_getBundleStatsV2"
ORDER_STATUS = "mev_getOrderStatus"
READ_METHODS = (BUNDLE_STATS, ORDER_STATUS)
MAX_ID = 120


@dataclass(frozen=True, slots=True)
class StatusQuery:
    order_id: str
    slot: int | None
    bundle: bool  # asked for by bundle hash: only a bundle answers
    field: str


def parse_status_query(params: Any, method: str) -> StatusQuery:
    obj = single_params(params, method)
    bundle = method == BUNDLE_STATS or "bundleHash" in obj
    if bundle:
        require("orderId" not in obj, "params[0]", "give one of 'orderId' or 'bundleHash'")
        order_id, field = fields.hash32(obj.get("bundleHash"), "bundleHash"), "bundleHash"
    else:
        value, field = obj.get("orderId"), "orderId"
        if not (isinstance(value, str) and 0 < len(value) <= MAX_ID):
            raise InputError("orderId", f"must be a string of 1..{MAX_ID} characters")
        order_id = value
    slot = parse_slot(obj)
    if method == BUNDLE_STATS and slot is None:
        raise InputError("blockNumber", "missing")
    return StatusQuery(order_id, slot, bundle, field)


def unknown(query: StatusQuery) -> InputError:
    """The one answer for an id this signer never sent: the same whether or not anyone
    else did (and the id is not echoed, so the answer cannot be told apart by it)."""
    return InputError(query.field, "no order of this signer with this id"
                      + (" in that block" if query.slot is not None else ""))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _settlement(rec: OrderRecord) -> dict[str, Any]:
    return {"status": rec.status, "payment": None if rec.payment is None else str(rec.payment),
            "refund": None if rec.refund is None else str(rec.refund), "note": rec.note}


def own_order(rec: OrderRecord) -> dict[str, Any]:
    """``mev_getOrderStatus``: everything about the signer's own order."""
    id_field = "bundleHash" if rec.kind == "bundle" else "orderId"
    return {id_field: rec.id, "kind": rec.kind, "slot": hex(rec.slot), "signer": rec.signer,
            "replacementUuid": rec.replacement_uuid, "receivedAt": _iso(rec.received_ms),
            "params": rec.params, **_settlement(rec)}


def bundle_stats(rec: OrderRecord) -> dict[str, Any]:
    """``flashbots_getBundleStatsV2``: Flashbots' fields as far as this service has them —
    every bundle is simulated when its slot settles (there is no low-priority queue, and no
    outside builder considers or seals it) — plus this service's status and settlement."""
    settled = rec.status in ("included", "excluded")
    return {"isHighPriority": True, "isSimulated": settled, "receivedAt": _iso(rec.received_ms),
            "consideredByBuildersAt": [], "sealedByBuildersAt": [], "bundleHash": rec.id,
            "blockNumber": hex(rec.slot), **_settlement(rec)}


def included_order(found: IncludedOrder) -> dict[str, Any]:
    """The public record of an order its block included: what verification needs."""
    rec = found.order
    txs = unlabelled(rec.scenario_order.get("txs", [rec.key]))
    return {"slot": rec.slot, "id": rec.id, "kind": rec.kind, "status": rec.status, "txs": txs,
            "payment": str(rec.payment or 0), "refund": str(rec.refund or 0), "block_hash": found.block_hash}


def public_report(report: dict) -> dict:
    """A settled slot's report as anyone may read it: no losing builder bid
    (:func:`~mevauction.service.settle.without_losing_bids`) and no excluded order (their ids
    and the conflicts they were in are their signers'); the block, its orders' payments and
    refunds stay, and so does every money flow: an excluded order paid or refunded anything
    stays listed."""
    report = without_losing_bids(report)
    searchers = report.get("searchers")
    if not isinstance(searchers, dict):
        return report  # an error report names no order
    block = set(report.get("block", []))
    excluded = {i for i, s in searchers.items() if i not in block and not (s.get("bid") or s.get("refund"))}

    def kept(ids: list[str]) -> list[str]:
        return [i for i in ids if i not in excluded]
    out = {**report, "searchers": {i: s for i, s in searchers.items() if i not in excluded},
           "conflict_free": kept(report.get("conflict_free", [])),
           "groups": [g for g in (kept(g) for g in report.get("groups", [])) if len(g) > 1],
           "transfers": [t for t in report.get("transfers", []) if not {t.get("from"), t.get("to")} & excluded]}
    if isinstance(report.get("default"), dict):
        out["default"] = {**report["default"], "block": kept(report["default"].get("block", []))}
    return out
