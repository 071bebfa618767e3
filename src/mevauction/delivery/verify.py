"""Check a mined block against a slot's published report, from chain data alone.

From the block (its transactions and fee recipient) and each transaction's state diff
(``debug_traceTransaction`` with the ``prestateTracer`` in diff mode) this re-derives
what every transaction paid the fee recipient and every transfer the fee recipient made
(the settlement transactions). With a report it checks: the transactions in the decided
order (each order's own, then the settlements); each order's payment b_i; each refund
r_i reaching the sender of the order's first transaction; the builder's refund; the
proposer's revenue reaching its fee recipient. Nothing is taken from the report that the
chain can tell: recipients are read from the block, amounts from the diffs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mevauction.chain.rpc import NodeUnavailable, RpcClient, as_int
from mevauction.errors import InputError
from mevauction.eth.keccak import keccak

TRACER = {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}}


@dataclass(frozen=True, slots=True)
class ChainTx:
    index: int
    hash: str
    sender: str
    to: str | None
    value: int
    success: bool
    to_coinbase: int  # the fee recipient's balance change over this transaction


@dataclass(slots=True)
class Verification:
    number: int
    hash: str
    coinbase: str
    txs: list[ChainTx]
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> dict[str, Any]:
        return {"number": self.number, "hash": self.hash, "coinbase": self.coinbase, "ok": self.ok,
                "mismatches": self.mismatches,
                "txs": [{"index": t.index, "hash": t.hash, "from": t.sender, "to": t.to, "value": str(t.value),
                         "success": t.success, "to_coinbase": str(t.to_coinbase)} for t in self.txs]}


def _lowered(diff: dict) -> dict:
    return {k: {a.lower(): v for a, v in (diff.get(k) or {}).items()} for k in ("pre", "post")}


def _balance_change(diff: dict, address: str) -> int:
    pre = diff.get("pre", {}).get(address, {})
    post = diff.get("post", {}).get(address, {})
    if "balance" not in post:
        return 0  # unchanged (the diff lists only what changed)
    return int(post["balance"], 16) - int(pre.get("balance", "0x0"), 16)


def chain_txs(rpc: RpcClient, number: int) -> tuple[dict[str, Any], list[ChainTx]]:
    """Block ``number`` and each of its transactions as the chain records it.

    A plain value transfer pays the fee recipient its priority fee (from its receipt)
    plus its value if sent to it; a transaction that runs code may pay it from inside, so
    such a block is traced (one ``debug_traceBlockByNumber`` with the prestate tracer in
    diff mode: a single replay) and those transactions' changes are read from the diffs.
    The fee recipient's balance change over the block must equal the sum (checked by
    :func:`verify`), so no payment can hide from the per-transaction figures."""
    block = rpc.block(number, full=True)
    if block is None:
        raise InputError("--block", f"block {number} is not on the chain at {rpc.url}")
    txs = block["transactions"]
    if not txs:
        return block, []
    coinbase = block["miner"].lower()
    base_fee = as_int(block.get("baseFeePerGas", "0x0"))
    receipts = rpc.call("eth_getBlockReceipts", block["number"])
    if not (isinstance(receipts, list) and len(receipts) == len(txs)):
        raise NodeUnavailable(f"block {number}: receipts missing")
    runs_code = [t.get("input", "0x") not in ("0x", "") or not t.get("to") for t in txs]
    diffs: list[Any] = [None] * len(txs)
    if any(runs_code):
        traces = rpc.call("debug_traceBlockByNumber", block["number"], TRACER)
        if not (isinstance(traces, list) and len(traces) == len(txs)):
            raise NodeUnavailable(f"block {number}: state diffs missing")
        diffs = [t.get("result", t) if isinstance(t, dict) else t for t in traces]
    out = []
    for i, (t, r) in enumerate(zip(txs, receipts, strict=True)):
        sender, to, value = t["from"].lower(), (t.get("to") or "").lower() or None, as_int(t["value"])
        gas = as_int(r["gasUsed"])
        tip = (as_int(r["effectiveGasPrice"]) - base_fee) * gas
        if runs_code[i]:
            paid = _balance_change(_lowered(diffs[i]), coinbase)
        else:
            paid = tip + (value if to == coinbase else 0) - (value + gas * as_int(r["effectiveGasPrice"])
                                                            if sender == coinbase else 0)
        out.append(ChainTx(i, t["hash"], sender, to, value, as_int(r["status"]) == 1, paid))
    return block, out


def coinbase_total(rpc: RpcClient, block: dict[str, Any]) -> int:
    """The fee recipient's balance change over the whole block (state at N − 1 and N)."""
    number = as_int(block["number"])
    before, after = rpc.batch([("eth_getBalance", [block["miner"], hex(number - 1)]),
                               ("eth_getBalance", [block["miner"], hex(number)])])
    return as_int(after) - as_int(before)


def verify(rpc: RpcClient, number: int, document: dict[str, Any] | None = None) -> Verification:
    """Block ``number`` re-derived from chain data, and checked against ``document`` (a
    slot as ``GET /v1/slots/{n}`` publishes it: its ``report`` and ``delivery``)."""
    block, txs = chain_txs(rpc, number)
    result = Verification(number, block["hash"], block["miner"].lower(), txs)
    total = coinbase_total(rpc, block)
    if total != sum(t.to_coinbase for t in txs):
        result.mismatches.append(f"the fee recipient's balance changed by {total} wei over the block, its "
                                 f"transactions account for {sum(t.to_coinbase for t in txs)}")
    if document is not None:
        result.mismatches += check(txs, result.coinbase, document)
    return result


def _wei(value: Any) -> int:
    return int(value)


def check(txs: list[ChainTx], coinbase: str, document: dict[str, Any]) -> list[str]:
    # A slot document (GET /v1/slots/{n}: the report's fields, its delivery, its fee
    # recipient) or {"report", "delivery", "fee_recipient"}.
    report = document.get("report", document)
    delivery = document.get("delivery")
    if not isinstance(report, dict) or "error" in report:
        return ["the report is a failed slot's: no block was decided"]
    if not isinstance(delivery, dict):
        raise InputError("--report", "has no 'delivery' (the block's transactions by order): "
                                     "save it from GET /v1/slots/{n} of a service run with --chain")
    out: list[str] = []
    if coinbase != str(delivery["coinbase"]).lower():
        out.append(f"fee recipient: block has {coinbase}, report's coinbase is {delivery['coinbase']}")
    by_order: dict[str, list[str]] = {}
    for t in delivery["txs"]:
        by_order.setdefault(t["order"], []).append(t["hash"].lower())
    partial = {oid: [h.lower() for h in full] for oid, full in (delivery.get("bundles") or {}).items()}
    for oid, hashes in by_order.items():  # a bundle's id is the hash of its transactions' hashes
        if oid.startswith("0x") and len(oid) == 66 and hashes != [oid.lower()]:  # (a public tx: its hash)
            full = partial.get(oid, hashes)  # with dropped transactions: the mined ones are a subsequence
            it = iter(full)
            if not all(h in it for h in hashes):
                out.append(f"order {oid}: its mined transactions are not in its bundle's order")
            if "0x" + keccak(b"".join(bytes.fromhex(h[2:]) for h in full)).hex() != oid.lower():
                out.append(f"order {oid}: its transactions in the report do not hash to its bundle hash")
    decided = [h for oid in report["block"] for h in by_order.get(oid, [])]
    missing_orders = [oid for oid in report["block"] if oid not in by_order]
    out += [f"order {oid}: in the report's block but no transactions listed" for oid in missing_orders]
    orders_part = [t for t in txs if t.sender != coinbase]
    settle_part = [t for t in txs if t.sender == coinbase]
    first_settlement = next((t.index for t in settle_part), len(txs))
    if any(t.index > first_settlement for t in orders_part):
        out.append("an order's transaction comes after a settlement transaction")
    got = [t.hash.lower() for t in orders_part]
    if got != decided:
        for i in range(max(len(got), len(decided))):
            g = got[i] if i < len(got) else None
            w = decided[i] if i < len(decided) else None
            if g != w:
                out.append(f"transaction {i}: block has {g}, report decides {w}")
    by_hash = {t.hash.lower(): t for t in orders_part}
    sender_of: dict[str, str] = {}
    for oid in report["block"]:
        hashes = by_order.get(oid, [])
        present = [by_hash[h] for h in hashes if h in by_hash]
        if present:
            sender_of[oid] = present[0].sender
        paid = sum(t.to_coinbase for t in present)
        bid = _wei(report["searchers"].get(oid, {}).get("bid", 0))
        if len(present) == len(hashes) and paid != bid:
            out.append(f"order {oid}: paid the fee recipient {paid} wei on chain, report says b_i = {bid}")
    expected: Counter[tuple[str, int]] = Counter()
    for oid, s in report["searchers"].items():
        refund = _wei(s["refund"])
        if refund > 0:
            recipient = sender_of.get(oid)
            if recipient is None:
                out.append(f"order {oid}: refund {refund} owed but its transactions are not in the block")
                continue
            expected[(recipient, refund)] += 1
    winner = report.get("winner", "default")
    if winner != "default":
        won = report["builder_settlement"][winner]
        collected = sum(_wei(report["searchers"][o]["bid"]) for o in report["block"] if o in report["searchers"])
        owed = _wei(won["refund"]) + max(0, collected - _wei(won["paid"]))
        if owed > 0:
            expected[(winner.lower(), owed)] += 1
    proposer = _wei(report.get("proposer", 0))
    if proposer > 0:
        expected[(str(document.get("fee_recipient", "")).lower(), proposer)] += 1
    actual: Counter[tuple[str, int]] = Counter()
    for t in settle_part:
        if not t.success:
            out.append(f"settlement transaction {t.hash} failed on chain")
            continue
        actual[(t.to or "", t.value)] += 1
    for (who, amount), n in (expected - actual).items():
        out.append(f"settlement: {n} transfer(s) of {amount} wei to {who} decided, not in the block")
    for (who, amount), n in (actual - expected).items():
        out.append(f"settlement: {n} transfer(s) of {amount} wei to {who} in the block, not decided")
    return out
