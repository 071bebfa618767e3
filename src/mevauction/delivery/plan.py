"""The block a slot's report decides, as transactions to mine.

Order: every transaction of every order in the report's block, in the block's order
(an order's own transactions in its order), then the settlement transactions, all sent
from the slot's one-time coinbase (the block's fee recipient, which the searchers'
payments reached): each searcher's refund r_i to the sender of its order's first
transaction, the winning builder's refund, the proposer's revenue to its fee recipient.

The coinbase's key is derived from a secret the service keeps and the slot number, so
the signed settlement transactions (and their hashes) are the same every time they are
made: a service killed mid-delivery re-sends exactly the same transactions, and since
each has its own nonce of a fresh account, none can execute twice.

In case (4b) the winning builder's payment β* + Σ_S b_i comes from its deposit, which
the service holds off chain; the searchers' bids reached the coinbase instead of the
builder. The coinbase is funded with what the builder owes beyond those bids
(``funding``) and the builder is paid what the bids exceed its payment by, so that the
coinbase pays out exactly what it took in. It is also funded with the gas its
settlement transactions burn (``gas_reserve``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mevauction.errors import InputError
from mevauction.eth import fields, secp256k1
from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import MAX_TX_BYTES, Transaction, decode, sign

PAYOUT_GAS = 21_000  # a plain value transfer to an account without code
EIP1559 = 2


@dataclass(frozen=True, slots=True)
class Payout:
    """One settlement transaction: ``amount`` wei from the coinbase to ``recipient``."""

    role: str  # searcher, builder, proposer
    party: str  # the order id, builder id, or "proposer"
    recipient: str
    amount: int
    nonce: int = 0
    hash: str = ""
    raw: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "party": self.party, "recipient": self.recipient, "amount": str(self.amount),
                "nonce": self.nonce, "hash": self.hash, "raw": self.raw}

    @classmethod
    def from_json(cls, doc: dict) -> Payout:
        return cls(doc["role"], doc["party"], doc["recipient"], int(doc["amount"]), int(doc["nonce"]),
                   doc["hash"], doc["raw"])


@dataclass(frozen=True, slots=True)
class OrderTx:
    order: str  # the order's id in the report
    hash: str
    raw: str


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """The block to mine for one slot, exactly."""

    number: int
    timestamp: int
    base_fee: int
    coinbase: str
    txs: tuple[OrderTx, ...]
    payouts: tuple[Payout, ...]
    funding: int  # wei put into the coinbase before the block: deposits owed plus gas
    # Orders some of whose transactions the auction's execution dropped: all their hashes,
    # in order (what the bundle hash is taken over), so a verifier can still check the id.
    bundles: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def hashes(self) -> list[str]:
        return [t.hash for t in self.txs] + [p.hash for p in self.payouts]

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "timestamp": self.timestamp, "base_fee": str(self.base_fee),
                "coinbase": self.coinbase, "funding": str(self.funding),
                "txs": [{"order": t.order, "hash": t.hash, "raw": t.raw} for t in self.txs],
                "payouts": [p.to_json() for p in self.payouts],
                "bundles": {oid: list(hashes) for oid, hashes in self.bundles}}

    @classmethod
    def from_json(cls, doc: dict) -> BlockPlan:
        return cls(int(doc["number"]), int(doc["timestamp"]), int(doc["base_fee"]), doc["coinbase"],
                   tuple(OrderTx(t["order"], t["hash"], t["raw"]) for t in doc["txs"]),
                   tuple(Payout.from_json(p) for p in doc["payouts"]), int(doc["funding"]),
                   tuple((oid, tuple(h)) for oid, h in sorted(doc.get("bundles", {}).items())))


def coinbase_key(secret: bytes, chain_id: int, number: int) -> bytes:
    """The one-time coinbase key of block ``number`` (the service's secret, never published)."""
    digest = keccak(b"mevauction-coinbase:" + secret + f":{chain_id}:{number}".encode())
    return secp256k1.private_key(int.from_bytes(digest, "big") % (secp256k1.N - 1) + 1)


def order_raw_txs(order: Mapping[str, Any]) -> list[str]:
    """An evm order's signed transactions (``raw_txs`` or a ``bundle`` object's ``txs``)."""
    bundle = order.get("bundle")
    raws = bundle.get("txs") if isinstance(bundle, dict) else order.get("raw_txs")
    if not isinstance(raws, list) or not raws:
        raise InputError("order.raw_txs", f"order {order.get('id')!r} carries no signed transactions to mine")
    return [str(r) for r in raws]


def decoded(raw: str, where: str = "raw_txs") -> Transaction:
    return decode(fields.data(raw, where, max_length=MAX_TX_BYTES), where)


def searcher_of(order: Mapping[str, Any]) -> str:
    """Where an order's refund goes: the sender of its first transaction (on chain, as
    anyone reading the block can tell)."""
    return decoded(order_raw_txs(order)[0]).sender


def payouts(report: Mapping[str, Any], orders: Mapping[str, Mapping[str, Any]], fee_recipient: str,
            builder_address: Mapping[str, str] | None = None) -> tuple[list[Payout], int]:
    """The settlement transfers of ``report`` (unsigned, in a fixed order) and the
    deposit funding the coinbase needs (case 4b; see the module docstring)."""
    out: list[Payout] = []
    for oid in sorted(report.get("searchers", {})):
        refund = int(report["searchers"][oid]["refund"])
        if refund > 0:
            out.append(Payout("searcher", oid, searcher_of(orders[oid]), refund))
    funding = 0
    winner = report.get("winner", "default")
    if winner != "default":
        won = report["builder_settlement"][winner]
        block = report.get("block", [])
        collected = sum(int(report["searchers"][o]["bid"]) for o in block if o in report["searchers"])
        paid, refund = int(won["paid"]), int(won["refund"])
        funding = max(0, paid - collected)
        owed = refund + max(0, collected - paid)
        if owed > 0:
            address = (builder_address or {}).get(winner, winner)
            out.append(Payout("builder", winner, fields.address(address, "builder"), owed))
    proposer = int(report.get("proposer", 0))
    if proposer > 0:
        out.append(Payout("proposer", "proposer", fee_recipient, proposer))
    return out, funding


def signed_payouts(key: bytes, chain_id: int, base_fee: int, transfers: Sequence[Payout],
                   first_nonce: int = 0) -> list[Payout]:
    """Each transfer as a signed EIP-1559 transaction from the coinbase, nonces from
    ``first_nonce``, no priority fee (the coinbase would only pay itself)."""
    out = []
    for i, p in enumerate(transfers):
        raw = sign(key, EIP1559, chain_id=chain_id, nonce=first_nonce + i, gas_limit=PAYOUT_GAS, to=p.recipient,
                   value=p.amount, max_priority_fee=0, max_fee=base_fee)
        tx = decode(raw)
        out.append(Payout(p.role, p.party, p.recipient, p.amount, first_nonce + i, tx.hash, "0x" + raw.hex()))
    return out


def block_plan(report: Mapping[str, Any], orders: Mapping[str, Mapping[str, Any]], *, number: int, timestamp: int,
               base_fee: int, chain_id: int, secret: bytes, fee_recipient: str,
               builder_address: Mapping[str, str] | None = None,
               kept: Mapping[str, frozenset[str]] | None = None) -> BlockPlan:
    """The block to mine for a settled slot (``orders``: the scenario's orders by id).

    ``kept``: for orders whose transactions the auction's execution left some out of
    (``droppingTxHashes``), the hashes it did execute; only those are sent."""
    key = coinbase_key(secret, chain_id, number)
    coinbase = secp256k1.address_of(key)
    txs = []
    bundles = []
    if "error" not in report:
        for oid in report.get("block", []):
            raws = order_raw_txs(orders[oid])
            hashes = [decoded(raw).hash for raw in raws]
            for raw, h in zip(raws, hashes, strict=True):
                if kept is not None and oid in kept and h not in kept[oid]:
                    continue  # dropped where the block executed it: never sent
                txs.append(OrderTx(oid, h, raw if raw.startswith("0x") else "0x" + raw))
            if kept is not None and oid in kept and len(kept[oid]) < len(hashes):
                bundles.append((oid, tuple(hashes)))
        transfers, funding = payouts(report, orders, fee_recipient, builder_address)
    else:
        transfers, funding = [], 0
    signed = signed_payouts(key, chain_id, base_fee, transfers)
    gas = len(signed) * PAYOUT_GAS * base_fee
    return BlockPlan(number, timestamp, base_fee, coinbase, tuple(txs), tuple(signed), funding + gas,
                     tuple(sorted(bundles)))
