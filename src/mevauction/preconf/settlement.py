"""Settling commitments against the mined block: mev-commit's oracle rule, exactly.

Re-derived from mev-commit: the oracle (``oracle/pkg/updater``, ``handleOpenedCommitment``
and ``checkPositionConstraintSatisfied``) decides reward or slash from the block's
transactions; the BidderRegistry (``convertFundsToProviderReward``) pays the provider
the decayed amount less the protocol fee and returns the decayed-away part to the
bidder; the ProviderRegistry (``slash``) takes the slash amount plus a penalty fee
from the provider's stake, pays the slash amount to the bidder, and the escrowed bid
is unlocked in full.

The oracle keys the block's transactions by ``strings.TrimPrefix(tx.Hash().Hex(), "0x")``
(lower-case hex, no prefix) and looks each committed hash up **as the bid wrote it**:
an upper-case or ``0x``-prefixed hash in a bid is never found, and the commitment is
slashed even though the transaction is in the block. Nothing is normalised here either.

A commitment is **kept** when every transaction it names is in the block, the bundle
sits in consecutive positions in the named order, each one succeeded unless it is
listed in ``revertingTxHashes``, and every position constraint in ``bidOptions`` is met
by some transaction of the bundle (the oracle removes the first constraint each
transaction meets; whatever is left, a shutterised option included, slashes; but a
broken bundle carrying a shutterised option is not slashed at all). A commitment by a
provider that did not win the block is void: it is never opened and the bid is
returned. So is one whose dispatch timestamp the PreconfManager would not have
stored: not after ``recorded - dispatch window`` (``InvalidDispatchTimestamp``), or
later than it was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mevauction.errors import InputError, require
from mevauction.eth import fields
from mevauction.mechanism.commitments import positions_left
from mevauction.preconf import bidoptions
from mevauction.preconf.decay import ONE_HUNDRED_PERCENT, PRECISION, residual
from mevauction.preconf.messages import Commitment, parse_uint, tx_hash_list

PROTOCOL_FEE_PERCENT = 2 * PRECISION
SLASH_PENALTY_PERCENT = 5 * PRECISION
DISPATCH_WINDOW_MS = 2000  # PreconfManager's commitmentDispatchWindow in mev-commit's deploy script
SETTLEMENT_FORMAT = "mevauction.preconf.settlement/2"
BLOCK_SETTLEMENT_FORMAT = "mevauction.preconf.block-settlement/1"


def oracle_key(tx_hash: object, field_name: str) -> str:
    """A mined transaction's hash as the oracle keys it: lower-case hex, no ``0x``."""
    return fields.hash32(tx_hash, field_name)[2:]


@dataclass(frozen=True, slots=True)
class IncludedTx:
    position: int
    succeeded: bool
    gas_used: int


@dataclass(frozen=True, slots=True)
class DeliveredBlock:
    """A mined block as the oracle sees it: number, winner, transactions by oracle key."""

    number: int
    winner: str
    transactions: dict[str, IncludedTx]
    gas_used: int = 0

    @classmethod
    def from_txs(cls, number: int, winner: str, txs: list, where: str = "block.transactions") -> DeliveredBlock:
        """From the block's transactions in order: each a hash (succeeded, no gas) or
        ``{hash, succeeded, gasUsed}`` (the receipt's status and gas)."""
        table: dict[str, IncludedTx] = {}
        total = 0
        for i, tx in enumerate(txs):
            at = f"{where}[{i}]"
            if isinstance(tx, str):
                tx = {"hash": tx}
            require(isinstance(tx, dict), at, "must be a hash or {hash, succeeded, gasUsed}")
            succeeded = tx.get("succeeded", True)
            require(isinstance(succeeded, bool), f"{at}.succeeded", "must be true or false")
            key = oracle_key(tx.get("hash"), f"{at}.hash")
            require(key not in table, f"{at}.hash", "appears twice in the block")
            gas = parse_uint(tx.get("gasUsed", 0), f"{at}.gasUsed", 64)
            table[key] = IncludedTx(i, succeeded, gas)
            total += gas
        return cls(number, fields.address(winner, "block.winner"), table, total)

    @classmethod
    def from_json(cls, data: object, where: str = "block") -> DeliveredBlock:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        number = parse_uint(data.get("blockNumber"), f"{where}.blockNumber", 64)
        txs = data.get("transactions")
        require(isinstance(txs, list), f"{where}.transactions", "must be a list")
        return cls.from_txs(number, data.get("winner"), txs, f"{where}.transactions")  # type: ignore[arg-type]


def _positions_left(options: list, bundle: list[IncludedTx], block: DeliveredBlock) -> list:
    """The options the bundle's transactions leave unmet, by the oracle's matching
    (:func:`mevauction.mechanism.commitments.positions_left`, the one home of the rule with
    ``position_met``): each transaction takes the first position constraint left that it
    meets; any other option (a shutterised one) is never met."""
    positions = [o for o in options if isinstance(o, bidoptions.PositionConstraint)]
    others = [o for o in options if not isinstance(o, bidoptions.PositionConstraint)]
    txs = [(t.position, sum(u.gas_used for u in block.transactions.values() if u.position < t.position), t.gas_used)
           for t in bundle]
    left = positions_left([(c.anchor, c.basis, c.value) for c in positions], txs, len(block.transactions),
                          block.gas_used)
    return [*(positions[i] for i in left), *others]


def delivery_failure(txn_hash: str, reverting_tx_hashes: str, block: DeliveredBlock,
                     bid_options: bytes = b"", options_enabled: bool = True) -> str | None:
    """Why the block breaks the commitment, or None if it keeps it (the oracle's check).

    Hashes are looked up exactly as the bid spells them. Returns ``"exempt: …"`` for a
    broken bundle with a shutterised option, which the oracle neither slashes nor rewards.
    """
    wanted = tx_hash_list(txn_hash)
    may_revert = set(reverting_tx_hashes.split(","))
    options = list(bidoptions.decode(bid_options)) if options_enabled else []
    first = block.transactions.get(wanted[0]) if wanted else None
    bundle: list[IncludedTx] = []
    for i, tx_hash in enumerate(wanted or [""]):
        found = block.transactions.get(tx_hash)
        expected = (first.position if first is not None else 0) + i
        if found is None or found.position != expected or (not found.succeeded and tx_hash not in may_revert):
            if any(isinstance(o, bidoptions.Shutterised) for o in options):
                return "exempt: broken bundle with a shutterised option (the oracle skips the slash)"
            if found is None:
                return f"transaction {tx_hash!r} not in block {block.number} (hashes match exactly)"
            if found.position != expected:
                return f"transaction {tx_hash} at position {found.position}, expected {expected} (out of order)"
            return f"transaction {tx_hash} reverted and is not in revertingTxHashes"
        bundle.append(found)
    left = _positions_left(options, bundle, block)
    if left:
        return f"{len(left)} bid option(s) not satisfied (position constraints unmet)"
    return None


@dataclass(frozen=True, slots=True)
class Settlement:
    """Who gets what for one commitment. All amounts in wei."""

    kind: str  # "reward" | "slash" | "void"
    reason: str
    residual: int
    provider_payout: int = 0
    protocol_fee: int = 0
    bidder_refund: int = 0
    slash_to_bidder: int = 0
    slash_penalty: int = 0
    stake_taken: int = 0

    def to_json(self) -> dict:
        return {"format": SETTLEMENT_FORMAT, "kind": self.kind, "reason": self.reason,
                "residual": str(self.residual),
                **{k: str(getattr(self, k)) for k in (
                    "provider_payout", "protocol_fee", "bidder_refund", "slash_to_bidder",
                    "slash_penalty", "stake_taken")}}


def reward(bid_amt: int, residual_share: int, fee_percent: int = PROTOCOL_FEE_PERCENT) -> Settlement:
    """BidderRegistry.convertFundsToProviderReward: decay, then the protocol fee."""
    decayed = bid_amt * residual_share // ONE_HUNDRED_PERCENT
    fee = decayed * fee_percent // ONE_HUNDRED_PERCENT
    return Settlement("reward", "kept", residual_share, provider_payout=decayed - fee, protocol_fee=fee,
                      bidder_refund=bid_amt - decayed)


def slash(bid_amt: int, slash_amt: int, provider_stake: int, reason: str, residual_share: int,
          penalty_percent: int = SLASH_PENALTY_PERCENT) -> Settlement:
    """ProviderRegistry.slash + BidderRegistry.unlockFunds, including the short-stake cap."""
    penalty = slash_amt * penalty_percent // ONE_HUNDRED_PERCENT
    to_bidder = slash_amt
    if provider_stake < to_bidder + penalty:
        to_bidder = min(to_bidder, provider_stake)
        penalty = min(penalty, provider_stake - to_bidder)
    return Settlement("slash", reason, residual_share, bidder_refund=bid_amt, slash_to_bidder=to_bidder,
                      slash_penalty=penalty, stake_taken=to_bidder + penalty)



@dataclass(frozen=True, slots=True)
class Recorded:
    """A commitment as the service (or the PreconfManager) recorded it: ``recorded_ms`` is
    when it was stored, which bounds the dispatch timestamp the provider may claim;
    ``escrowed`` is what the bidder's deposit actually holds for the bid."""

    commitment: Commitment
    recorded_ms: int
    escrowed: int


@dataclass(frozen=True, slots=True)
class Entry:
    """One flow of wei: ``amount`` from ``source`` (``escrow:<bidder>`` or ``stake:<provider>``)
    to ``to`` (a bidder, the provider, or ``protocol``), for one commitment."""

    commitment: str
    source: str
    to: str
    amount: int
    kind: str  # "reward" | "fee" | "refund" | "unlock" | "slash" | "penalty"

    def to_json(self) -> dict:
        return {"commitmentDigest": self.commitment, "from": self.source, "to": self.to,
                "amount": str(self.amount), "kind": self.kind}


@dataclass(slots=True)
class Outcome:
    commitment_digest: str
    bid_key: str
    bidder: str
    settlement: Settlement


@dataclass(slots=True)
class BlockSettlement:
    """Every commitment for one block decided, and the ledger of what moved."""

    block_number: int
    outcomes: list[Outcome] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    escrow_in: int = 0
    stake_in: int = 0

    def balanced(self) -> bool:
        """What left escrow and stake is exactly what the entries pay out."""
        out_of_escrow = sum(e.amount for e in self.entries if e.source.startswith("escrow:"))
        out_of_stake = sum(e.amount for e in self.entries if e.source.startswith("stake:"))
        return out_of_escrow == self.escrow_in and out_of_stake == self.stake_in

    def to_json(self) -> dict:
        return {"format": BLOCK_SETTLEMENT_FORMAT, "blockNumber": self.block_number,
                "commitments": [{"commitmentDigest": o.commitment_digest, "bidder": o.bidder,
                                 "outcome": o.settlement.kind, **o.settlement.to_json()} for o in self.outcomes],
                "ledger": [e.to_json() for e in self.entries],
                "escrowSettled": str(self.escrow_in), "stakeTaken": str(self.stake_in),
                "balanced": self.balanced()}


def dispatch_problem(recorded: Recorded, window_ms: int) -> str | None:
    """Why the PreconfManager would not have stored this dispatch timestamp, if it would not."""
    dispatch = recorded.commitment.dispatch_timestamp
    if dispatch <= recorded.recorded_ms - window_ms:
        return f"dispatch timestamp {dispatch} is not after recorded {recorded.recorded_ms} - window {window_ms}"
    if dispatch > recorded.recorded_ms:
        return f"dispatch timestamp {dispatch} is later than the commitment was recorded ({recorded.recorded_ms})"
    return None


def settle_one(recorded: Recorded, block: DeliveredBlock, provider_stake: int, window_ms: int,
               fee_percent: int = PROTOCOL_FEE_PERCENT, penalty_percent: int = SLASH_PENALTY_PERCENT,
               options_enabled: bool = True) -> Settlement:
    """The oracle's decision for one recorded commitment, and its amounts."""
    commitment = recorded.commitment
    bid = commitment.signed_bid.bid
    if bid.block_number != block.number:
        raise InputError("block.blockNumber", f"commitment is for block {bid.block_number}, got {block.number}")
    amount = recorded.escrowed
    committer = commitment.committer().lower()
    if committer != block.winner:
        return Settlement("void", f"committer {committer} did not win block {block.number}", 0, bidder_refund=amount)
    problem = dispatch_problem(recorded, window_ms)
    if problem is not None:
        return Settlement("void", problem, 0, bidder_refund=amount)
    share = residual(bid.decay_start, bid.decay_end, commitment.dispatch_timestamp)
    failure = delivery_failure(bid.txn_hash, bid.reverting_tx_hashes, block, bid.bid_options, options_enabled)
    if failure is not None and failure.startswith("exempt:"):
        return Settlement("void", failure, share, bidder_refund=amount)
    if failure is not None:
        return slash(amount, bid.slash_amt, provider_stake, failure, share, penalty_percent)
    return reward(amount, share, fee_percent)


def settle_commitments(block_txs_in_order: list, commitments: list[Recorded], block_number: int, winner: str,
                       provider_stake: int, window_ms: int, fee_percent: int = PROTOCOL_FEE_PERCENT,
                       penalty_percent: int = SLASH_PENALTY_PERCENT) -> BlockSettlement:
    """Settle every commitment for ``block_number`` against the mined block's transactions
    (hashes, or ``{hash, succeeded, gasUsed}`` from the receipts, in block order).

    Commitments are settled in the order given (the order they were recorded); each slash
    comes out of the stake the earlier ones left. Every wei that leaves an escrow or the
    stake is one :class:`Entry`, and :meth:`BlockSettlement.balanced` checks the sums.
    """
    block = DeliveredBlock.from_txs(block_number, winner, block_txs_in_order)
    result = BlockSettlement(block_number)
    stake = provider_stake
    for recorded in commitments:
        c = recorded.commitment
        s = settle_one(recorded, block, stake, window_ms, fee_percent, penalty_percent)
        bidder = c.signed_bid.bidder()
        digest = c.digest.hex()
        escrow, provider = f"escrow:{bidder}", c.committer()
        flows = [(escrow, provider, s.provider_payout, "reward"), (escrow, "protocol", s.protocol_fee, "fee"),
                 (escrow, bidder, s.bidder_refund, "refund" if s.kind == "reward" else "unlock"),
                 (f"stake:{provider}", bidder, s.slash_to_bidder, "slash"),
                 (f"stake:{provider}", "protocol", s.slash_penalty, "penalty")]
        result.entries.extend(Entry(digest, src, to, amount, kind) for src, to, amount, kind in flows if amount)
        result.escrow_in += recorded.escrowed
        result.stake_in += s.stake_taken
        stake -= s.stake_taken
        result.outcomes.append(Outcome(digest, c.signed_bid.key, bidder, s))
    return result
