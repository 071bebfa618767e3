"""The service's stored records as typed models.

Each record is what one row means, in the service's own types: amounts are ``int``
wei, JSON columns are the decoded documents, flags are ``bool``. How a record is laid
out in its table (decimal text, zero-padded sort keys, JSON text) is the business of
:mod:`mevauction.service.dao` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """A searcher's order (bundle or table-world order) in its slot."""

    slot: int
    id: str
    seq: int  # arrival order across the whole service
    kind: str
    signer: str
    replacement_uuid: str | None
    params: Any  # the JSON-RPC params as received
    scenario_order: dict
    received_ms: int
    status: str = "pending"  # pending, cancelled, included, excluded
    payment: int | None = None  # set when the slot settles
    refund: int | None = None
    note: str | None = None
    scenario_id: str | None = None  # its id in the slot's scenario; None: ``id``

    @property
    def key(self) -> str:
        """The order's id in its slot's scenario (unique in the slot)."""
        return self.id if self.scenario_id is None else self.scenario_id


@dataclass(frozen=True, slots=True)
class IncludedOrder:
    """A settled order that is in its slot's block, and that block's hash."""

    order: OrderRecord
    block_hash: str


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What settlement decided for one order."""

    slot: int
    id: str  # the order's scenario id
    status: str  # included or excluded
    payment: int
    refund: int
    note: str | None


@dataclass(frozen=True, slots=True)
class BuilderBidRecord:
    """A builder's sealed submission for a slot (the latest one counts)."""

    slot: int
    builder: str
    submission: dict
    received_ms: int
    commitment: str | None = None  # keccak over slot, builder, submission and a salt only the builder has


@dataclass(frozen=True, slots=True)
class SlotRecord:
    """A settled slot: its report and the delivered block's trace."""

    slot: int
    world: dict
    report: dict
    settled_ms: int
    block_hash: str
    parent_hash: str
    winner: str
    builder_pubkey: str
    proposer_pubkey: str
    fee_recipient: str
    gas_limit: int
    gas_used: int
    num_tx: int
    value: int  # the proposer's payment
    refunds: int


@dataclass(frozen=True, slots=True)
class SlotSummary:
    """One line of the slot history."""

    slot: int
    winner: str
    value: int
    refunds: int
    num_tx: int
    block_hash: str
    settled_ms: int


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The newest settled slot: the parent of the next block."""

    slot: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class BuilderBlockRecord:
    """A block the slot's auction considered (the default algorithm's or a builder's)."""

    slot: int
    builder: str
    block_hash: str
    builder_pubkey: str
    valid: bool
    gas_used: int
    num_tx: int
    value: int | None  # published: the winner's bid and β0 only; None for a losing bid
    timestamp_ms: int
    commitment: str | None  # the submission's commitment (None for the default block)


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """One party's line of a slot's settlement ledger."""

    slot: int
    party: str
    role: str  # searcher, builder, proposer, mechanism
    paid: int
    received: int


@dataclass(frozen=True, slots=True)
class BuilderRegistration:
    """A registered builder and the deposit it has put up (the operator's registry)."""

    address: str
    deposit: int


@dataclass(frozen=True, slots=True)
class DepositEntry:
    """One movement of a builder's deposit in a slot: ``debit`` (the winner's payment),
    ``credit`` (its surplus refund) or ``penalty`` (forfeited by a disqualified winner)."""

    slot: int
    builder: str
    entry: str
    amount: int


@dataclass(frozen=True, slots=True)
class SettledSlot:
    """Everything written when a slot settles, in one transaction."""

    slot: SlotRecord
    outcomes: list[OrderOutcome]
    builder_blocks: list[BuilderBlockRecord]
    settlements: list[SettlementRecord]
    deposits: list[DepositEntry] = field(default_factory=list)
    delivery: Any = None  # on a chain: the block plan (service.deliveries.DeliveryRecord)
    block_txs: list[dict] | None = None  # without a chain: the delivered block's txs, in order


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """Equality filters of the relay data API (None: not filtered)."""

    slot: int | None = None
    block_number: int | None = None  # block numbers are slot numbers here
    block_hash: str | None = None
    proposer_pubkey: str | None = None
    builder_pubkey: str | None = None
    cursor: int | None = None  # slots at or below


@dataclass(frozen=True, slots=True)
class BidTrace:
    """A relay bid trace: a delivered payload, or a received block (with ``valid``)."""

    slot: int
    parent_hash: str
    block_hash: str
    builder_pubkey: str
    proposer_pubkey: str
    fee_recipient: str
    gas_limit: int
    gas_used: int
    value: int | None  # None: a losing bid, not published
    num_tx: int
    timestamp_ms: int
    valid: bool | None = None
    commitment: str | None = None


@dataclass(frozen=True, slots=True)
class PreconfBidRecord:
    """A received preconfirmation bid, as the bidder signed it."""

    seq: int
    digest: str
    signature: str
    bidder: str
    block_number: int
    received_ms: int
    signed_bid: dict


@dataclass(frozen=True, slots=True)
class PreconfMessageRecord:
    """A commitment or reject the provider signed about a bid (numbered per digest)."""

    digest: str
    kind: str
    message: dict
    bid_key: str | None = None  # digest + signature of the signed bid it answers (None: stored before v8)
    stored_ms: int | None = None
