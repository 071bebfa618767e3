"""What senders submit: Flashbots bundles, world-native orders, sealed builder bids.

- ``eth_sendBundle`` (Flashbots shape): ``txs`` (signed raw transactions),
  ``blockNumber`` (hex; this service numbers blocks by slot), ``minTimestamp``,
  ``maxTimestamp`` (checked against the slot's block timestamp), ``revertingTxHashes``,
  ``droppingTxHashes``, ``replacementUuid``; every transaction signed for the service's
  chain id and within the block gas limit. The refund fields and ``builders`` are
  refused by name (not implemented; never accepted and ignored). The bundle hash is
  keccak256 of the concatenated transaction hashes, as Flashbots computes it.
- ``mev_sendOrder``: an order object in the slot world's own format (an ``amm`` swap,
  a ``table`` bid table, ...), validated by that world's ``from_scenario``; its shape
  bounded (:mod:`mevauction.service.bounds`) and its ``gas`` within the block gas limit.
- ``mev_sendBuilderBid``: a builder's algorithm choice or explicit block, and its bid;
  sealed — kept out of every API until the slot has settled.

Each parser returns an :class:`Intake` whose ``scenario_order`` is the order as it will
appear in the slot's ``mevauction.scenario/1`` document.

An order names only transactions it carries, so no order can claim another searcher's
transaction and knock its bundle out: an evm order's ``txs`` and reverting/dropping lists
must be hashes of its own signed transactions (:func:`refuse_foreign_txs`), and a
``table``/``amm`` order's labels live in a namespace of their own (:func:`labelled`).
``eth_cancelBundle``, ``mev_sendOrder`` and ``mev_sendBuilderBid`` carry a signed
``timestamp`` (:func:`parse_timestamp`), which the RPC layer's replay guard checks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mevauction.errors import InputError, as_wei, require
from mevauction.eth import fields
from mevauction.eth.transactions import MAX_TX_BYTES, Transaction, bundle_hash, decode, refuse_unexecutable
from mevauction.service.bounds import check_order_shape
from mevauction.worlds import world_module

if TYPE_CHECKING:
    from mevauction.service.config import ServiceConfig

MAX_TXS_PER_BUNDLE = 100
MAX_TIMESTAMP = 1 << 40  # seconds: far beyond any real clock, and exact as a float in ms
TX_LISTS = ("txs", "revertingTxHashes", "droppingTxHashes")
LABEL = "label:"  # the namespace of table/amm transaction labels (never a 0x hash)
KNOWN_BUNDLE_FIELDS = frozenset({
    "txs", "blockNumber", "minTimestamp", "maxTimestamp", "revertingTxHashes", "droppingTxHashes",
    "replacementUuid", "refundPercent", "refundIndex", "refundRecipient", "refundTxHashes", "builders",
})
# Flashbots fields this service does not implement: a bundle naming one is refused (the
# field named), never accepted with the field ignored. Refunds here are Boost+'s r_i.
REFUSED_BUNDLE_FIELDS = ("refundPercent", "refundIndex", "refundRecipient", "refundTxHashes", "builders")


@dataclass(frozen=True, slots=True)
class IntakeRules:
    """What every order must fit, from the service's configuration."""

    chain_id: int = 31337
    block_gas_limit: int = 30_000_000

    @classmethod
    def of(cls, config: ServiceConfig) -> IntakeRules:
        return cls(config.effective_chain_id(), config.block_gas_limit)


DEFAULT_RULES = IntakeRules()


@dataclass(slots=True)
class Intake:
    """One accepted submission, ready to store."""

    kind: str  # "bundle" | "order"
    id: str
    slot: int | None  # None: the slot open now
    replacement_uuid: str | None
    scenario_order: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BuilderBid:
    slot: int | None
    submission: dict[str, Any]  # a scenario ``builders`` entry, id filled in later


def single_params(params: Any, method: str) -> dict:
    """Flashbots methods take one object in a one-element params array."""
    require(isinstance(params, list) and len(params) == 1 and isinstance(params[0], dict),
            "params", f"{method} takes [object]")
    return params[0]


def parse_quantity(value: Any, field: str) -> int:
    """A block number or timestamp: a JSON number or a 0x quantity, at most 2**64 - 1."""
    return fields.uint(value, field, fields.UINT64_MAX)


def parse_slot(obj: dict, field: str = "blockNumber") -> int | None:
    value = obj.get(field)
    return None if value is None else parse_quantity(value, field)


def parse_timestamp(params: Any, method: str) -> int:
    """The request's signed ``timestamp`` (unix seconds, a JSON number, fractions allowed)
    in milliseconds. Required: it is what makes a captured request go stale."""
    value = single_params(params, method).get("timestamp")
    if value is None:
        raise InputError("timestamp", f"missing: {method} needs the unix time (seconds) it was signed at")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    require(ok and 0 < value < MAX_TIMESTAMP, "timestamp", "must be a unix time in seconds (a JSON number)")
    return round(value * 1000)


def parse_uuid(value: Any) -> str | None:
    if value is None or value == "":
        return None
    require(isinstance(value, str) and len(value) <= 64 and value.isprintable(),
            "replacementUuid", "must be a string of at most 64 printable characters")
    return value


def _hash_list(obj: dict, name: str) -> list[str]:
    value = obj.get(name) or []
    require(isinstance(value, list) and len(value) <= MAX_TXS_PER_BUNDLE, name, "must be a list of transaction hashes")
    return [fields.hash32(h, f"{name}[{i}]") for i, h in enumerate(value)]


def refuse_unimplemented_fields(obj: dict) -> None:
    for name in REFUSED_BUNDLE_FIELDS:
        require(obj.get(name) is None, name, "not supported by this service (bundles carry no refund "
                                              "instructions or builder list here); send the bundle without it")


def check_transaction_rules(txs: list[Transaction], rules: IntakeRules, field: str = "txs") -> None:
    """Each transaction signed for this chain and within the block gas limit, and the
    bundle as a whole too (its gas is what the block must make room for). On the intake
    path: messages are formatted only when raised."""
    for i, t in enumerate(txs):
        if t.chain_id != rules.chain_id:
            raise InputError(f"{field}[{i}]", f"signed for chain id {t.chain_id} (this service's chain id is "
                                              f"{rules.chain_id}; transactions must be replay-protected for it)")
        if t.gas_limit > rules.block_gas_limit:
            raise InputError(f"{field}[{i}]",
                             f"gas limit {t.gas_limit} exceeds the block gas limit {rules.block_gas_limit}")
    total = sum(t.gas_limit for t in txs)
    if total > rules.block_gas_limit:
        raise InputError(field, f"gas limits add up to {total}, more than the block gas limit {rules.block_gas_limit}")


def with_transaction_gas(order: dict, rules: IntakeRules) -> dict:
    """An evm order (already valid for its world) with its transactions checked like a
    bundle's, and its ``gas`` the sum of their gas limits: the evm world meters executed
    gas itself, so the declared figure settlement admits orders by must bound it."""
    bundle = order.get("bundle")
    field, raws = ("order.bundle.txs", bundle["txs"]) if isinstance(bundle, dict) else ("order.raw_txs",
                                                                                         order["raw_txs"])
    txs = [decode(fields.data(r, f"{field}[{i}]", max_length=MAX_TX_BYTES), f"{field}[{i}]")
           for i, r in enumerate(raws)]
    check_transaction_rules(txs, rules, field)
    return {**order, "gas": sum(t.gas_limit for t in txs)}


def parse_bundle(params: Any, rules: IntakeRules = DEFAULT_RULES) -> tuple[Intake, list[Transaction]]:
    """``eth_sendBundle`` params → an intake; every transaction decoded and its signature checked."""
    obj = single_params(params, "eth_sendBundle")
    unknown = sorted(set(obj) - KNOWN_BUNDLE_FIELDS)
    require(not unknown, unknown[0] if unknown else "", "unknown bundle field")
    refuse_unimplemented_fields(obj)
    raw_txs = obj.get("txs")
    if not (isinstance(raw_txs, list) and 0 < len(raw_txs) <= MAX_TXS_PER_BUNDLE):
        raise InputError("txs", f"must be a list of 1..{MAX_TXS_PER_BUNDLE} signed transactions")
    txs = [refuse_unexecutable(decode(fields.data(t, f"txs[{i}]", max_length=MAX_TX_BYTES), f"txs[{i}]"), f"txs[{i}]")
           for i, t in enumerate(raw_txs)]
    hashes = [t.hash for t in txs]
    require(len(set(hashes)) == len(hashes), "txs", "repeats a transaction")
    check_transaction_rules(txs, rules)
    slot = parse_slot(obj)
    if slot is None:
        raise InputError("blockNumber", "missing")
    min_ts = parse_quantity(obj.get("minTimestamp") or 0, "minTimestamp")
    max_ts = parse_quantity(obj.get("maxTimestamp") or 0, "maxTimestamp")
    require(max_ts == 0 or min_ts <= max_ts, "maxTimestamp", "is before minTimestamp")
    reverting = _hash_list(obj, "revertingTxHashes")
    dropping = _hash_list(obj, "droppingTxHashes")
    for name, listed in (("revertingTxHashes", reverting), ("droppingTxHashes", dropping)):
        stray = [h for h in listed if h not in hashes]
        require(not stray, name, f"{stray[0] if stray else ''} is not a transaction of this bundle")
    bhash = bundle_hash(txs)
    uuid = parse_uuid(obj.get("replacementUuid"))
    params_out = {"txs": ["0x" + t.raw.hex() for t in txs], "blockNumber": hex(slot), "minTimestamp": min_ts,
                  "maxTimestamp": max_ts, "revertingTxHashes": reverting, "droppingTxHashes": dropping,
                  "replacementUuid": uuid}
    order = {"id": bhash, "txs": hashes, "gas": sum(t.gas_limit for t in txs), "revertingTxHashes": reverting}
    return Intake("bundle", bhash, slot, uuid, order, params_out), txs


def parse_raw_transaction(params: Any, rules: IntakeRules = DEFAULT_RULES) -> tuple[Intake, str]:
    """``eth_sendRawTransaction`` [raw]: a public transaction, as a one-transaction order for
    the open slot (its bid is what it pays the coinbase: its priority fee); its id is the
    transaction hash, its signer the transaction's sender."""
    require(isinstance(params, list) and len(params) == 1, "params", "eth_sendRawTransaction takes [signedTx]")
    tx = refuse_unexecutable(decode(fields.data(params[0], "params[0]", max_length=MAX_TX_BYTES), "params[0]"),
                             "params[0]")
    check_transaction_rules([tx], rules, "params")
    raw = "0x" + tx.raw.hex()
    params_out = {"txs": [raw], "blockNumber": None, "minTimestamp": 0, "maxTimestamp": 0,
                  "revertingTxHashes": [], "droppingTxHashes": [], "replacementUuid": None}
    order = {"id": tx.hash, "txs": [tx.hash], "gas": tx.gas_limit, "revertingTxHashes": []}
    return Intake("bundle", tx.hash, None, None, order, params_out), tx.sender


def decoded_raw(item: Intake) -> Transaction:
    """The one transaction of a public transaction's intake."""
    return decode(bytes.fromhex(item.params["txs"][0][2:]), "params[0]")


def check_time_window(item: Intake, slot: int, timestamp: int) -> None:
    """A bundle's ``minTimestamp``/``maxTimestamp`` (0: no bound) against the block timestamp
    of the slot it targets: a bundle that cannot be included there is refused, rather than
    stored and then left out."""
    if item.kind != "bundle":
        return
    low, high = item.params["minTimestamp"], item.params["maxTimestamp"]
    if low and low > timestamp:
        raise InputError("minTimestamp", f"{low} is after the block timestamp {timestamp} of slot {slot}")
    if high and high < timestamp:
        raise InputError("maxTimestamp", f"{high} is before the block timestamp {timestamp} of slot {slot}")


def bundle_scenario_order(intake: Intake, txs: list[Transaction], world: dict) -> dict:
    """The bundle as an order of the slot's world.

    ``table`` world: a bundle's bid is its priority fees (tip × gas limit, base fee 0 on
    this service's chain) and it touches the accounts it is sent from and to — a static
    valuation, since the table world does not execute transactions (none fails, so
    ``revertingTxHashes`` and ``droppingTxHashes`` change nothing there). Other worlds get
    the raw transactions to execute (``raw_txs``) and the hashes that may revert or be
    dropped, and judge them themselves (the evm world honours both).
    """
    order = dict(intake.scenario_order)
    if world.get("kind") == "table":
        senders = {f"account:{t.sender}" for t in txs}
        targets = {f"account:{t.to}" for t in txs if t.to}
        order["reads"] = sorted(senders | targets)
        order["writes"] = sorted(senders | targets)
        order["bid"] = {"default": sum(t.tip_per_gas * t.gas_limit for t in txs)}
    else:
        order["raw_txs"] = intake.params["txs"]
        if intake.params["droppingTxHashes"]:
            order["droppingTxHashes"] = intake.params["droppingTxHashes"]
    validate_order(order, world, "params[0]")
    return order


def validate_order(order: dict, world: dict, where: str, context: list[dict] | None = None) -> None:
    """Check ``order`` with its world's own parser; errors name ``where``.

    First alone; if that fails and ``context`` (the slot's orders so far) is given, once
    more after them — an order may refer to earlier ones (an amm backrun names its victim).
    """
    module = world_module(world.get("kind"))
    try:
        module.from_scenario({"world": world, "orders": [order], "builders": []})
        return
    except InputError as exc:
        first = exc
    if context:
        try:
            module.from_scenario({"world": world, "orders": [*context, order], "builders": []})
            return
        except InputError as exc:
            if exc.field.startswith(f"orders[{len(context)}]"):
                first = InputError(exc.field.replace(f"orders[{len(context)}]", "orders[0]", 1), exc.message)
    field = first.field.replace("orders[0]", where + ".order", 1) if first.field else where
    raise InputError(field, first.message) from None


def carried_tx_hashes(order: dict) -> set[str]:
    """The hashes of the signed transactions an evm order carries (its ``raw_txs`` or
    ``bundle.txs``, already checked by the world's parser)."""
    bundle = order.get("bundle")
    raws = bundle.get("txs") if isinstance(bundle, dict) else order.get("raw_txs")
    return {decode(fields.data(r, "raw_txs", max_length=MAX_TX_BYTES), "raw_txs").hash for r in raws or []}


def refuse_foreign_txs(order: dict, where: str) -> None:
    """An evm order names only transactions it carries: every entry of its ``txs``,
    ``revertingTxHashes`` and ``droppingTxHashes`` (and of its bundle object's lists) is
    the hash of one of its own signed transactions."""
    carried = carried_tx_hashes(order)
    bundle = order.get("bundle")
    sources: list[tuple[dict, str, tuple[str, ...]]] = [(order, f"{where}.order", TX_LISTS)]
    if isinstance(bundle, dict):  # its ``txs`` are the signed transactions themselves
        sources.append((bundle, f"{where}.order.bundle", TX_LISTS[1:]))
    for obj, at, names in sources:
        for name in names:
            listed = obj.get(name)
            for i, h in enumerate(listed if isinstance(listed, list) else []):
                if not (isinstance(h, str) and h.lower() in carried):
                    raise InputError(f"{at}.{name}[{i}]", f"names transaction {str(h)[:80]!r}, which this order does "
                                                          "not carry (an order names only its own signed transactions)")


def labelled(order: dict) -> dict:
    """A ``table``/``amm`` order with its transaction labels in the label namespace.

    Those orders carry no signed transactions: their ``txs`` are labels (an amm backrun
    repeats its victim swap's label, as the world requires), which may look like hashes.
    Prefixed, no label can equal the hash of a real transaction another order carries (a
    bundle's), so no such order can claim one and knock its bundle out — and nothing is
    refused, so the rule is no oracle for which transactions are pending. Labels shared
    between world-native orders keep their meaning in the world (competing for one)."""
    out = dict(order)
    txs = order.get("txs", [order.get("id")])  # the world's default: the order's id
    if isinstance(txs, list):
        out["txs"] = [LABEL + t if isinstance(t, str) else t for t in txs]
    reverting = order.get("revertingTxHashes")
    if isinstance(reverting, list):
        out["revertingTxHashes"] = [LABEL + t if isinstance(t, str) else t for t in reverting]
    return out


def renamed(order: dict, scenario_id: str) -> dict:
    """The scenario order under another id (a second signer's order with the same id); a
    default label (its id) follows, so the two orders share no transaction."""
    out = {**order, "id": scenario_id}
    if out.get("txs") == [LABEL + order["id"]]:
        out["txs"] = [LABEL + scenario_id]
    return out


def unlabelled(txs: list[str]) -> list[str]:
    """Transaction labels as their signer wrote them (bundle hashes are unchanged)."""
    return [t.removeprefix(LABEL) for t in txs]


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def check_order_gas(order: dict, rules: IntakeRules) -> None:
    """An order's declared gas fits in a block (its world checked that it is a positive integer)."""
    gas = order.get("gas")
    require(not isinstance(gas, int) or gas <= rules.block_gas_limit, "order.gas",
            f"{gas} exceeds the block gas limit {rules.block_gas_limit}")


def parse_order(params: Any, world: dict, context: Callable[[int | None], list[dict]] | None = None,
                rules: IntakeRules = DEFAULT_RULES) -> Intake:
    """``mev_sendOrder`` params: ``[{"blockNumber": hex, "order": {...}, "replacementUuid"?}]``.

    ``context(slot)`` gives the slot's pending orders, for orders that refer to others.
    """
    obj = single_params(params, "mev_sendOrder")
    order = obj.get("order")
    if not isinstance(order, dict):
        raise InputError("order", "missing or not an object")
    check_order_shape(order, "order")
    oid = order.get("id")
    if not (isinstance(oid, str) and 0 < len(oid) <= 80 and oid.isprintable() and "," not in oid):
        raise InputError("order.id", "must be a printable string of 1..80 characters without ','")
    slot = parse_slot(obj)
    check_order_gas(order, rules)
    pending = context(slot) if context else None
    if world.get("kind") == "evm":  # signed transactions: its own only, checked like a bundle's
        validate_order(order, world, "params[0]", pending)
        refuse_foreign_txs(order, "params[0]")
        scenario_order = with_transaction_gas(order, rules)
    else:  # labels, in a namespace of their own (no real transaction can be named)
        scenario_order = labelled(order)
        validate_order(scenario_order, world, "params[0]", pending)
    return Intake("order", oid, slot, parse_uuid(obj.get("replacementUuid")), scenario_order,
                  {"order": order, "blockNumber": None if slot is None else hex(slot)})


def parse_builder_bid(params: Any, sealed: bool = False) -> BuilderBid:
    """``mev_sendBuilderBid`` params: ``[{"blockNumber", "algorithm" | "block", "bid"}]``.

    The builder is the request's signer; ``bid`` is wei or ``"truthful"``. With ``sealed``
    (``serve --sealed``) the amount never comes in the clear: ``sealedBid`` (the builder's
    signed header and one envelope per committee server) replaces ``bid``, which is refused.
    """
    obj = single_params(params, "mev_sendBuilderBid")
    algorithm, block = obj.get("algorithm"), obj.get("block")
    require((algorithm is None) != (block is None), "params[0]", "needs exactly one of 'algorithm' or 'block'")
    submission: dict[str, Any] = {}
    if algorithm is not None:
        known = available_algorithms()
        require(algorithm in known, "algorithm", f"unknown algorithm {algorithm!r} (available: {', '.join(known)})")
        submission["algorithm"] = algorithm
    else:
        require(isinstance(block, list) and len(block) <= 10_000 and all(isinstance(x, str) for x in block),
                "block", "must be a list of order ids")
        submission["block"] = block
    if sealed:
        require("bid" not in obj, "bid", "this service takes sealed bids only: send sealedBid, never the amount")
        require("sealedBid" in obj, "sealedBid", "missing (seal the bid for the committee of mev_getCommittee)")
        submission["sealedBid"] = obj["sealedBid"]
        return BuilderBid(parse_slot(obj), submission)
    bid = obj.get("bid", "truthful")
    submission["bid"] = "truthful" if bid == "truthful" else as_wei(bid, "bid")
    return BuilderBid(parse_slot(obj), submission)


def available_algorithms() -> list[str]:
    """Built-in algorithms whose modules are installed (checked without importing them)."""
    import importlib.util

    from mevauction.building.registry import BUILDERS

    def installed(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is not None
        except ImportError:  # a parent package is missing
            return False
    return [name for name, target in BUILDERS.items() if installed(target.split(":")[0])]


def parse_cancel(params: Any) -> str:
    obj = single_params(params, "eth_cancelBundle")
    uuid = parse_uuid(obj.get("replacementUuid"))
    if uuid is None:
        raise InputError("replacementUuid", "missing")
    return uuid
