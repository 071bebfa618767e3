"""The provider's decision engine: admit bids, run auctions, sign commitments and rejects.

Per arriving bid (mev-commit ``handleBid``): check the addressee, chain and fields,
verify the bidder's signature, refuse replays, and hold the bid amount against the
bidder's deposit (``CheckAndDeductDeposit``). Admitted bids wait in a pool; at each
auction (preconfirmation-auctions paper "Dynamic models": times t_0 … t_k before the block, or on every
arrival in ``continuous`` mode) the engine computes the reserve, the capacity left
under C_{-t}, and the accepted set, then signs a commitment for each accepted bid
(NIKE shared key + mev-commit commitment digest) and a reject for each bid past its
deadline. Every round is written to a transcript that :func:`params.audit` replays.

Two decision rules:

* ``committed`` — the published forward-greedy rule, always.
* ``deferring`` — a myopic provider with no public commitment (preconfirmation-auctions paper, "Provider
  withholding values"): before its last auction it accepts a bid only if accepting now
  earns more than waiting, i.e. the decayed value now beats both the decayed value at
  the next auction and the capacity's expected later price. Without decay waiting is
  never worse, so it accepts nothing early — the deferring problem.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from mevauction.preconf.decay import decayed_amount
from mevauction.preconf.deposits import DepositLedger, InsufficientDeposit
from mevauction.preconf.evidence import Reject
from mevauction.preconf.keys import BadSignature, Signer
from mevauction.preconf.knapsack import Offer, forward_greedy, meets_reserve, ranked
from mevauction.preconf.messages import Commitment, SignedBid
from mevauction.preconf.nike import BadPoint, shared_key
from mevauction.preconf.params import AuctionParameters
from mevauction.preconf.settlement import normal_tx_hash


@dataclass(frozen=True, slots=True)
class Arrival:
    """A bid as it reaches a provider: the signed bid, where it was sent, and context.

    ``gas`` is the provider's own estimate for the named transactions (bids do not carry
    gas); ``bidder`` is the authenticated peer address when the transport provides one.
    """

    signed_bid: SignedBid
    provider: str
    gas: int
    received_at: int
    bidder: str | None = None


@dataclass(slots=True)
class Pending:
    signed_bid: SignedBid
    bidder: str
    gas: int
    arrival: int
    deadline: int
    # Below the reserve at some round: values only decay and the reserve only rises
    # within a block, so it can never be accepted later and is left out of the knapsack.
    dormant: bool = False

    @property
    def key(self) -> str:
        return self.signed_bid.digest.hex()


@dataclass(slots=True)
class BlockBook:
    """Per target block: pending bids by transaction group, sold gas, reserve, observations."""

    pending: dict[tuple[str, str], Pending] = field(default_factory=dict)
    committed_groups: set[tuple[str, str]] = field(default_factory=set)
    sold_gas: int = 0
    reserve: int = 0
    observed: list[tuple[str, int]] = field(default_factory=list)
    observed_per_gas: list[int] = field(default_factory=list)
    deadlines: list[tuple[int, tuple[str, str], bytes]] = field(default_factory=list)  # min-heap
    seen: set[bytes] = field(default_factory=set)  # digests admitted for this block (replays)


class ProviderEngine:
    def __init__(self, signer: Signer, nike_secret: int, params: AuctionParameters, ledger: DepositLedger,
                 block_time: Callable[[int], int], registered: frozenset[str] = frozenset(),
                 rule: str = "committed", later_price_per_gas: int = 0, history: bool = True):
        if params.provider.lower() != signer.address.lower():
            raise ValueError("parameters name another provider than the engine's key")
        if rule not in ("committed", "deferring"):
            raise ValueError("rule must be 'committed' or 'deferring'")
        self.signer = signer
        self.nike_secret = nike_secret
        self.params = params
        self.ledger = ledger
        self.block_time = block_time
        self.registered = frozenset(a.lower() for a in registered) | {signer.address.lower()}
        self.rule = rule
        self.later_price_per_gas = later_price_per_gas
        self.books: dict[int, BlockBook] = {}
        # Every round, commitment and reject, for audits and simulations; a long-running
        # provider (the service, which stores its messages) runs without (history=False).
        self.history = history
        self.transcript: list[dict] = []
        self.commitments: list[Commitment] = []
        self.rejects: list[Reject] = []
        self.rounds_done: dict[int, set[int]] = {}

    # -- admission -----------------------------------------------------------------
    def _reject(self, digest: bytes, now: int, reason: str) -> Reject:
        reject = Reject.make(digest, now, reason, self.params.chain_id, self.params.contract, self.signer)
        if self.history:
            self.rejects.append(reject)
        return reject

    def admit(self, arrival: Arrival) -> Reject | None:
        """Check one arriving bid; hold its amount in escrow and pool it, or return a signed reject."""
        sb, now = arrival.signed_bid, arrival.received_at
        bid = sb.bid
        if arrival.provider.lower() not in self.registered:
            return self._reject(sb.digest, now, "unknown-provider")
        if sb.chain_id != self.params.chain_id or sb.contract.lower() != self.params.contract.lower():
            return self._reject(sb.digest, now, "wrong-chain")
        if bid.bid_amt == 0:
            return self._reject(sb.digest, now, "zero-amount")
        if bid.decay_end <= bid.decay_start:
            return self._reject(sb.digest, now, "decay-window")
        try:
            bidder = sb.bidder()
        except BadSignature:
            return self._reject(sb.digest, now, "bad-signature")
        if arrival.bidder is not None and arrival.bidder.lower() != bidder.lower():
            return self._reject(sb.digest, now, "bad-signature")
        known = self.books.get(bid.block_number)
        if known is not None and sb.digest in known.seen:
            return self._reject(sb.digest, now, "replay")
        block_at = self.block_time(bid.block_number)
        if block_at - now < self.params.final_offset:
            return self._reject(sb.digest, now, "expired")
        book = self.books.setdefault(bid.block_number, BlockBook())
        group = (bidder.lower(), normal_tx_hash(bid.txn_hash))
        if group in book.committed_groups:
            return self._reject(sb.digest, now, "already-committed")
        previous = book.pending.get(group)
        if previous is not None and bid.bid_amt <= previous.signed_bid.bid.bid_amt:
            return self._reject(sb.digest, now, "not-an-increment")
        # An increment carries the new running total: it replaces the earlier bid, whose
        # escrow it takes over, so the amounts add up to one openable commitment.
        if previous is not None:
            self.ledger.release(previous.signed_bid.digest)
        try:
            self.ledger.hold(sb.digest, bidder, self.signer.address, bid.bid_amt)
        except InsufficientDeposit:
            if previous is not None:
                self.ledger.hold(previous.signed_bid.digest, bidder, self.signer.address,
                                 previous.signed_bid.bid.bid_amt)
            return self._reject(sb.digest, now, "insufficient-deposit")
        # Only an admitted bid counts as seen: a forged copy that fails must not block the original.
        book.seen.add(sb.digest)
        arrived = previous.arrival if previous is not None else now
        book.pending[group] = Pending(sb, bidder, arrival.gas, arrived, now + self.params.reject_within_ms)
        heapq.heappush(book.deadlines, (now + self.params.reject_within_ms, group, sb.digest))
        book.observed.append((sb.digest.hex(), arrival.gas))
        book.observed_per_gas.append(bid.bid_amt // arrival.gas)
        return None

    # -- auctions ------------------------------------------------------------------
    def on_bid(self, arrival: Arrival) -> list[Commitment | Reject]:
        """Admit a bid; in continuous mode also run the auction for its block at once."""
        reject = self.admit(arrival)
        if reject is not None:
            return [reject]
        if self.params.mode == "continuous":
            return self.run_round(arrival.signed_bid.bid.block_number, arrival.received_at)
        return []

    def next_round_time(self, block_number: int, now: int) -> int | None:
        block_at = self.block_time(block_number)
        later = [block_at - t for t in self.params.round_offsets if block_at - t > now]
        return min(later) if later else None

    def run_round(self, block_number: int, now: int) -> list[Commitment | Reject]:
        """One auction for ``block_number`` at time ``now`` (ms); returns the messages it signs."""
        book = self.books.setdefault(block_number, BlockBook())
        block_at = self.block_time(block_number)
        ms_before = block_at - now
        final = ms_before <= self.params.final_offset
        book.reserve = self.params.reserve.next_reserve(book.reserve, book.observed_per_gas)
        capacity = max(0, self.params.cumulative_capacity(ms_before) - book.sold_gas)
        by_key = {p.key: (group, p) for group, p in book.pending.items() if not p.dormant}
        offers = [Offer(key, decayed_amount(p.signed_bid.bid.bid_amt, p.signed_bid.bid.decay_start,
                                            p.signed_bid.bid.decay_end, now), p.gas, p.arrival)
                  for key, (_, p) in by_key.items()]
        if self.rule == "committed" or final:
            accepted = forward_greedy(offers, capacity, book.reserve)
        else:
            accepted = self._deferring_choice(offers, capacity, book.reserve, by_key, block_number, now)
        if self.history:
            self.transcript.append({
                "block": block_number, "at": now, "blockTime": block_at, "reserve": book.reserve,
                "capacity": capacity, "observed": list(book.observed),
                "offers": [[o.key, o.gas, o.arrival] for o in offers], "accepted": accepted,
            })
        book.observed = []
        out: list[Commitment | Reject] = []
        for key in accepted:
            group, pending = by_key[key]
            out.append(self._commit(pending, now))
            book.sold_gas += pending.gas
            book.committed_groups.add(group)
            del book.pending[group]
        for offer in offers:
            if not meets_reserve(offer, book.reserve):
                by_key[offer.key][1].dormant = True
        while book.deadlines and (final or book.deadlines[0][0] <= now):
            _, group, digest = heapq.heappop(book.deadlines)
            waiting = book.pending.get(group)
            if waiting is not None and waiting.signed_bid.digest == digest:
                self.ledger.release(digest)
                out.append(self._reject(digest, now, "not-selected"))
                del book.pending[group]
        return out

    def _deferring_choice(self, offers: list[Offer], capacity: int, reserve: int,
                          by_key: dict[str, tuple[tuple[str, str], Pending]], block_number: int,
                          now: int) -> list[str]:
        """Myopic rule: accept early only what waiting cannot beat (ties defer)."""
        next_at = self.next_round_time(block_number, now)
        accepted: list[str] = []
        left = capacity
        for offer in ranked(offers):
            bid = by_key[offer.key][1].signed_bid.bid
            later = decayed_amount(bid.bid_amt, bid.decay_start, bid.decay_end, next_at if next_at else now)
            withhold = max(later, self.later_price_per_gas * offer.gas)
            if offer.gas <= left and meets_reserve(offer, reserve) and offer.value > withhold:
                accepted.append(offer.key)
                left -= offer.gas
        return accepted

    def _commit(self, pending: Pending, now: int) -> Commitment:
        bid = pending.signed_bid.bid
        try:
            key = shared_key(self.nike_secret, (bid.bidder_pk_x, bid.bidder_pk_y))
        except BadPoint:
            # A bid without a valid NIKE key still gets a commitment the bidder can check
            # by signature; the shared-key fields are then zero, as in unkeyed test bids.
            key = (0, 0)
        commitment = Commitment.make(pending.signed_bid, key, self.signer, now)
        if self.history:
            self.commitments.append(commitment)
        return commitment

    def prune(self, before_block: int) -> None:
        """Forget the books of blocks below ``before_block``: past blocks, whose last
        auction has run. A later bid for one of them is refused as ``expired`` (its
        replay check is gone with the book, so callers must not take late bids)."""
        for block_number in [b for b in self.books if b < before_block]:
            del self.books[block_number]
        for block_number in [b for b in self.rounds_done if b < before_block]:
            del self.rounds_done[block_number]

    def tick(self, now: int) -> list[Commitment | Reject]:
        """Everything due by ``now``: scheduled auctions (periodic mode), or in continuous
        mode an auction for any block with a bid past its reject deadline or at its last step."""
        out: list[Commitment | Reject] = []
        for block_number in sorted(self.books):
            block_at = self.block_time(block_number)
            done = self.rounds_done.setdefault(block_number, set())
            if self.params.mode == "periodic":
                due = [block_at - t for t in self.params.round_offsets if block_at - t <= now]
            else:
                book = self.books[block_number]
                final_at = block_at - self.params.final_offset
                overdue = bool(book.deadlines) and book.deadlines[0][0] <= now
                due = [min(now, final_at)] if (overdue or now >= final_at) and book.pending else []
            for at in due:
                if at not in done:
                    done.add(at)
                    out.extend(self.run_round(block_number, at))
        return out
