"""Settling a commitment against the delivered block: reward with decay, or slash.

Re-derived from mev-commit: the oracle (``oracle/pkg/updater``, ``handleOpenedCommitment``)
decides reward or slash from the block's transaction list; the BidderRegistry
(``convertFundsToProviderReward``) pays the provider the decayed amount less the
protocol fee and returns the decayed-away part to the bidder; the ProviderRegistry
(``slash``) takes the slash amount plus a penalty fee from the provider's stake, pays
the slash amount to the bidder, and the escrowed bid is unlocked in full.

A commitment is **kept** when every transaction it names is in the block, the bundle
sits in consecutive positions in the named order, and each one succeeded unless it is
listed in ``revertingTxHashes``. A commitment by a provider that did not win the block
is void: it is never opened on chain and the bid is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from mevauction.errors import InputError, require
from mevauction.preconf.decay import ONE_HUNDRED_PERCENT, PRECISION, residual
from mevauction.preconf.messages import Commitment, parse_uint, tx_hash_list

PROTOCOL_FEE_PERCENT = 2 * PRECISION
SLASH_PENALTY_PERCENT = 5 * PRECISION
SETTLEMENT_FORMAT = "mevauction.preconf.settlement/1"


def normal_tx_hash(text: str) -> str:
    """Transaction hashes compare without 0x and case-insensitively (the oracle keys by hex)."""
    text = text.strip()
    return (text[2:] if text[:2].lower() == "0x" else text).lower()


@dataclass(frozen=True, slots=True)
class IncludedTx:
    position: int
    succeeded: bool
    gas_used: int


@dataclass(frozen=True, slots=True)
class DeliveredBlock:
    number: int
    winner: str
    transactions: dict[str, IncludedTx]

    @classmethod
    def from_json(cls, data: object, where: str = "block") -> DeliveredBlock:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        number = parse_uint(data.get("blockNumber"), f"{where}.blockNumber", 64)
        winner = data.get("winner")
        require(isinstance(winner, str) and winner.startswith("0x"), f"{where}.winner", "must be a 0x address")
        txs = data.get("transactions")
        require(isinstance(txs, list), f"{where}.transactions", "must be a list")
        table: dict[str, IncludedTx] = {}
        for i, tx in enumerate(txs):  # type: ignore[arg-type]
            at = f"{where}.transactions[{i}]"
            if isinstance(tx, str):
                tx = {"hash": tx}
            require(
                isinstance(tx, dict) and isinstance(tx.get("hash"), str),
                at,
                "must be a hash or {hash, succeeded, gasUsed}",
            )
            succeeded = tx.get("succeeded", True)
            require(isinstance(succeeded, bool), f"{at}.succeeded", "must be true or false")
            key = normal_tx_hash(tx["hash"])
            require(key not in table, f"{at}.hash", "appears twice in the block")
            table[key] = IncludedTx(i, succeeded, parse_uint(tx.get("gasUsed", 0), f"{at}.gasUsed", 64))
        return cls(number, winner.lower(), table)  # type: ignore[union-attr]


def delivery_failure(txn_hash: str, reverting_tx_hashes: str, block: DeliveredBlock) -> str | None:
    """Why the block breaks the commitment, or None if it keeps it (oracle's bundle check)."""
    wanted = [normal_tx_hash(h) for h in tx_hash_list(txn_hash)]
    may_revert = {normal_tx_hash(h) for h in tx_hash_list(reverting_tx_hashes)}
    if not wanted:
        return "commitment names no transaction"
    first = block.transactions.get(wanted[0])
    for i, tx_hash in enumerate(wanted):
        found = block.transactions.get(tx_hash)
        if found is None:
            return f"transaction {tx_hash} missing from block {block.number}"
        assert first is not None
        if found.position != first.position + i:
            return f"transaction {tx_hash} at position {found.position}, expected {first.position + i} (out of order)"
        if not found.succeeded and tx_hash not in may_revert:
            return f"transaction {tx_hash} reverted and is not in revertingTxHashes"
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


def settle(commitment: Commitment, block: DeliveredBlock, provider_stake: int,
           fee_percent: int = PROTOCOL_FEE_PERCENT, penalty_percent: int = SLASH_PENALTY_PERCENT,
           escrowed: int | None = None) -> Settlement:
    """Settle one commitment against the block the provider delivered.

    ``escrowed`` is what the registry actually holds for the bid (openBid lowers the
    bid to the available deposit when it falls short); by default the full bid amount.
    """
    bid = commitment.signed_bid.bid
    if bid.block_number != block.number:
        raise InputError("block.blockNumber", f"commitment is for block {bid.block_number}, got {block.number}")
    amount = bid.bid_amt if escrowed is None else escrowed
    share = residual(bid.decay_start, bid.decay_end, commitment.dispatch_timestamp)
    committer = commitment.committer().lower()
    if committer != block.winner:
        return Settlement("void", f"committer {committer} did not win block {block.number}", share,
                          bidder_refund=amount)
    failure = delivery_failure(bid.txn_hash, bid.reverting_tx_hashes, block)
    if failure is not None:
        return slash(amount, bid.slash_amt, provider_stake, failure, share, penalty_percent)
    return reward(amount, share, fee_percent)
