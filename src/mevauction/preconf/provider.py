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

from mevauction.preconf.capacity import Ask, arrange, ask_of
from mevauction.preconf.decay import decayed_amount
from mevauction.preconf.deposits import DepositLedger, InsufficientDeposit
from mevauction.preconf.evidence import NOBODY, Reject
from mevauction.preconf.keys import BadSignature, Signer
from mevauction.preconf.knapsack import Offer, forward_greedy, meets_reserve, ranked
from mevauction.preconf.messages import Commitment, SignedBid
from mevauction.preconf.nike import BadPoint, shared_key
from mevauction.preconf.params import AuctionParameters


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
    # The transport already verified the bidder's signature and names the bidder (a
    # mev-commit provider node behind its decision API does): not checked again here.
    verified: bool = False


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
    ask: Ask | None = None  # its position constraints (None: it asks for no position)
    txs: int = 1

    @property
    def key(self) -> str:
        return self.signed_bid.key


@dataclass(slots=True)
class BlockBook:
    """Per target block: pending bids by transaction group, sold gas, reserve, observations."""

    pending: dict[tuple[str, str], Pending] = field(default_factory=dict)
    committed_groups: set[tuple[str, str]] = field(default_factory=set)
    sold_gas: int = 0
    reserve: int = 0
    observed: list[tuple[str, int]] = field(default_factory=list)
    observed_per_gas: list[int] = field(default_factory=list)
    deadlines: list[tuple[int, tuple[str, str], str]] = field(default_factory=list)  # min-heap of (at, group, key)
    seen: set[tuple[str, bytes]] = field(default_factory=set)  # (bidder, digest) admitted for this block (replays)
    # The one decision signed about each signed bid (by key), so that a retry gets it
    # again instead of a second, contradicting message; and the keys still pending.
    decided: dict[str, Commitment | Reject] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    # The committed position asks, in the order the last check kept them (capacity.arrange),
    # each with the transactions of the top bundles asking for none committed before it;
    # all committed txs.
    asks: list[tuple[Ask, int]] = field(default_factory=list)
    free_top_txs: int = 0
    committed_txs: int = 0

    def placeable(self, p: Pending, gas_limit: int) -> list[tuple[Ask, int]] | None:
        """The committed position asks plus ``p``'s in an order that keeps them all
        (capacity.arrange), or None when no order does."""
        if p.ask is None and not self.asks:
            return []
        asks = self.asks if p.ask is None else [*self.asks, (p.ask, self.free_top_txs)]
        order = arrange(asks, self.committed_txs + p.txs, self.sold_gas + p.gas, gas_limit)
        return None if order is None else [asks[k] for k in order]

    def book_commitment(self, p: Pending, arranged: list[tuple[Ask, int]] | None = None) -> None:
        """Count ``p`` as committed; ``arranged``: the asks in the order ``placeable`` found,
        kept so that the next check tries that order first (a set that needed reordering
        is then not searched again from commitment order at every bid)."""
        self.sold_gas += p.gas
        self.committed_txs += p.txs
        if arranged is not None:
            self.asks = arranged
        elif p.ask is not None:
            self.asks.append((p.ask, self.free_top_txs))
        if p.ask is None or (not p.ask.planned and not p.ask.bottom):
            self.free_top_txs += p.txs


# Rejects of bids that were admitted (their (bidder, digest) counts for replays).
ADMITTED_REJECTS = ("not-selected", "superseded", "position-unavailable", "unknown-transaction")


class Refusal(Exception):
    """A bid answered without any signed message: what is wrong is the transport (sent to
    another provider, relayed under someone else's identity) or the clock (too late), not
    the signed bid, so the same bytes could be committed when they arrive properly and a
    signed reject now would later read as equivocation."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ProviderEngine:
    def __init__(self, signer: Signer, nike_secret: int, params: AuctionParameters, ledger: DepositLedger,
                 block_time: Callable[[int], int], registered: frozenset[str] = frozenset(),
                 rule: str = "committed", later_price_per_gas: int = 0, history: bool = True,
                 reject_lead_ms: int = 0, block_gas_limit: int = 30_000_000,
                 holds: Callable[[SignedBid], bool] | None = None):
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
        # Whether the provider holds a hash-only bid's transactions (None: not asked, as
        # mev-commit); a bid it cannot include is refused before its escrow is held.
        self.holds = holds
        # Rejects are signed this long before their deadline at the latest, so that a
        # caller ticking every ``reject_lead_ms`` sends each one in time.
        self.reject_lead_ms = reject_lead_ms
        # Position asks are judged against a block of this much gas (capacity.py).
        self.block_gas_limit = block_gas_limit
        self.books: dict[int, BlockBook] = {}
        # Every round, commitment and reject, for audits and simulations; a long-running
        # provider (the service, which stores its messages) runs without (history=False).
        self.history = history
        self.transcript: list[dict] = []
        self.commitments: list[Commitment] = []
        self.rejects: list[Reject] = []
        self.rounds_done: dict[int, set[int]] = {}

    # -- admission -----------------------------------------------------------------
    def _reject(self, sb: SignedBid, now: int, reason: str, bidder: str | None = None,
                book: BlockBook | None = None) -> Reject:
        reject = Reject.make(sb, now, reason, self.params.chain_id, self.params.contract, self.signer, bidder)
        if book is not None:
            book.decided[sb.key] = reject
            book.waiting.discard(sb.key)
        if self.history:
            self.rejects.append(reject)
        return reject

    def decision(self, sb: SignedBid) -> Commitment | Reject | None:
        """The message already signed about exactly this signed bid, if any."""
        book = self.books.get(sb.bid.block_number)
        return book.decided.get(sb.key) if book is not None else None

    def admit(self, arrival: Arrival) -> list[Commitment | Reject]:
        """Check one arriving bid: hold its amount in escrow and pool it, or sign a reject.

        Returns the messages signed in answer (a reject of this bid, or the ``superseded``
        reject of the bid it raises); a signed bid already decided gets that decision back,
        unchanged, and one still pending gets nothing. Raises :class:`Refusal` for what is
        not the signed bid's fault."""
        sb, now = arrival.signed_bid, arrival.received_at
        bid = sb.bid
        if arrival.provider.lower() not in self.registered:
            raise Refusal("unknown-provider", f"sent to {arrival.provider}, not a provider this engine serves")
        known = self.books.get(bid.block_number)
        if known is not None:
            if sb.key in known.decided:
                return [known.decided[sb.key]]
            if sb.key in known.waiting:
                return []
        if sb.chain_id != self.params.chain_id or sb.contract.lower() != self.params.contract.lower():
            return [self._reject(sb, now, "wrong-chain")]
        if bid.bid_amt == 0:
            return [self._reject(sb, now, "zero-amount")]
        if bid.decay_end <= bid.decay_start:
            return [self._reject(sb, now, "decay-window")]
        try:
            bidder = arrival.bidder if arrival.verified and arrival.bidder else sb.bidder()
        except BadSignature:
            return [self._reject(sb, now, "bad-signature", NOBODY)]
        if arrival.bidder is not None and arrival.bidder.lower() != bidder.lower():
            raise Refusal("wrong-sender", f"bid signed by {bidder}, sent by {arrival.bidder}")
        block_at = self.block_time(bid.block_number)
        if block_at - now < self.params.final_offset:
            raise Refusal("expired", f"block {bid.block_number}'s last auction has passed")
        book = self.books.setdefault(bid.block_number, BlockBook())
        if (bidder.lower(), sb.digest) in book.seen:
            return [self._reject(sb, now, "replay", bidder, book)]
        # Grouped exactly as the oracle matches: the same string is the same transactions.
        group = (bidder.lower(), bid.txn_hash)
        if group in book.committed_groups:
            return [self._reject(sb, now, "already-committed", bidder, book)]
        if self.holds is not None and not sb.raw_transactions and not self.holds(sb):
            return [self._reject(sb, now, "unknown-transaction", bidder, book)]
        previous = book.pending.get(group)
        if previous is not None and bid.bid_amt <= previous.signed_bid.bid.bid_amt:
            return [self._reject(sb, now, "not-an-increment", bidder, book)]
        if previous is not None:
            self.ledger.release(previous.signed_bid.key.encode())
        try:
            self.ledger.hold(sb.key.encode(), bidder, self.signer.address, bid.bid_amt)
        except InsufficientDeposit:
            if previous is not None:
                self.ledger.hold(previous.signed_bid.key.encode(), bidder, self.signer.address,
                                 previous.signed_bid.bid.bid_amt)
            return [self._reject(sb, now, "insufficient-deposit", bidder, book)]
        out: list[Commitment | Reject] = []
        if previous is not None:
            # An increment carries the new running total: it replaces the earlier bid (its
            # escrow released above), which is thereby decided: a signed "superseded".
            out.append(self._reject(previous.signed_bid, now, "superseded", previous.bidder, book))
        book.seen.add((bidder.lower(), sb.digest))
        book.waiting.add(sb.key)
        arrived = previous.arrival if previous is not None else now
        book.pending[group] = _pending(sb, bidder, arrival.gas, arrived, now + self.params.reject_within_ms)
        heapq.heappush(book.deadlines, (now + self.params.reject_within_ms, group, sb.key))
        book.observed.append((sb.key, arrival.gas))
        book.observed_per_gas.append(bid.bid_amt // arrival.gas)
        return out

    def restore(self, sb: SignedBid, bidder: str, gas: int, arrival: int,
                decision: Commitment | Reject | str | None, escrow_open: bool = True) -> None:
        """Put back one stored bid with its stored decision (a restart), without signing:
        a commitment holds its escrow (until settled, ``escrow_open``) and its gas and
        group; a reject holds nothing; an undecided bid is pending again, deadline and all.
        Stored bids come back in arrival order, so a superseded bid is already decided
        when the bid that raised it returns."""
        book = self.books.setdefault(sb.bid.block_number, BlockBook())
        group, key = (bidder.lower(), sb.bid.txn_hash), sb.key
        admitted = not isinstance(decision, Reject) or decision.reason in ADMITTED_REJECTS
        if admitted:
            book.seen.add((bidder.lower(), sb.digest))
        if decision is not None:  # a str: decided by a message of an older format (rejected)
            if not isinstance(decision, str):
                book.decided[key] = decision
            if isinstance(decision, Commitment):
                book.committed_groups.add(group)
                book.book_commitment(_pending(sb, bidder, gas, arrival, arrival))
                if escrow_open:
                    self.ledger.hold(key.encode(), bidder, self.signer.address, sb.bid.bid_amt)
            return
        self.ledger.hold(key.encode(), bidder, self.signer.address, sb.bid.bid_amt)
        book.waiting.add(key)
        book.pending[group] = _pending(sb, bidder, gas, arrival, arrival + self.params.reject_within_ms)
        heapq.heappush(book.deadlines, (arrival + self.params.reject_within_ms, group, key))

    def mark_rounds_done(self, block_number: int, until: int) -> None:
        """Scheduled rounds up to ``until`` ran before a restart: not to be run again."""
        block_at = self.block_time(block_number)
        self.rounds_done.setdefault(block_number, set()).update(
            block_at - t for t in self.params.round_offsets if block_at - t <= until)

    def is_pending(self, sb: SignedBid) -> bool:
        book = self.books.get(sb.bid.block_number)
        return book is not None and sb.key in book.waiting

    # -- auctions ------------------------------------------------------------------
    def on_bid(self, arrival: Arrival) -> list[Commitment | Reject]:
        """Admit a bid; in continuous mode also run the auction for its block at once."""
        out = self.admit(arrival)
        if self.params.mode == "continuous" and self.is_pending(arrival.signed_bid):
            out.extend(self.run_round(arrival.signed_bid.bid.block_number, arrival.received_at))
        return out

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
        out: list[Commitment | Reject] = []
        refused: list[str] = []
        while True:
            if self.rule == "committed" or final:
                accepted = forward_greedy(offers, capacity, book.reserve)
            else:
                accepted = self._deferring_choice(offers, capacity, book.reserve, by_key, block_number, now)
            # Position capacity: the first accepted bid whose ask cannot be kept together
            # with those committed and accepted before it is refused (it never could be
            # later: commitments only accumulate), and the rule runs again without it, so
            # the transcript's offers and accepted set still replay exactly (params.audit).
            trial = BlockBook(sold_gas=book.sold_gas, asks=list(book.asks), free_top_txs=book.free_top_txs,
                              committed_txs=book.committed_txs)
            clash = None
            for key in accepted:
                pending = by_key[key][1]
                arranged = trial.placeable(pending, self.block_gas_limit)
                if arranged is None:
                    clash = key
                    break
                trial.book_commitment(pending, arranged)
            if clash is None:
                break
            group, pending = by_key.pop(clash)
            offers = [o for o in offers if o.key != clash]
            refused.append(clash)
            self.ledger.release(clash.encode())
            out.append(self._reject(pending.signed_bid, now, "position-unavailable", pending.bidder, book))
            del book.pending[group]
        if self.history:
            self.transcript.append({
                "block": block_number, "at": now, "blockTime": block_at, "reserve": book.reserve,
                "capacity": capacity, "observed": list(book.observed),
                "offers": [[o.key, o.gas, o.arrival] for o in offers], "accepted": accepted,
                "refused": refused,
            })
        book.observed = []
        for key in accepted:
            group, pending = by_key[key]
            out.append(self._commit(pending, now))
            book.book_commitment(pending, trial.asks)  # the asks in the order the check found
            book.committed_groups.add(group)
            del book.pending[group]
        for offer in offers:
            if not meets_reserve(offer, book.reserve):
                by_key[offer.key][1].dormant = True
        out.extend(self._expire(book, now, final))
        return out

    def _expire(self, book: BlockBook, now: int, final: bool = False) -> list[Reject]:
        """Reject every pending bid whose deadline falls by ``now + reject_lead_ms`` (all of
        them at the block's last auction), signed now: so the reject is out by its deadline
        when the caller ticks at least every ``reject_lead_ms``."""
        out: list[Reject] = []
        while book.deadlines and (final or book.deadlines[0][0] <= now + self.reject_lead_ms):
            _, group, key = heapq.heappop(book.deadlines)
            waiting = book.pending.get(group)
            if waiting is not None and waiting.key == key:
                self.ledger.release(key.encode())
                out.append(self._reject(waiting.signed_bid, now, "not-selected", waiting.bidder, book))
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
        # The dispatch timestamp is the time of signing, which is what decay is charged on.
        commitment = Commitment.make(pending.signed_bid, key, self.signer, now)
        book = self.books[bid.block_number]
        book.decided[pending.key] = commitment
        book.waiting.discard(pending.key)
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
        """Everything due by ``now``, signed at ``now``: in periodic mode the scheduled
        auctions that have come due (one auction at ``now`` if several have: a late round
        is run late, never dated back to its scheduled time); in continuous mode an auction
        for any block with a bid about to reach its reject deadline or at its last step;
        in both, the rejects of bids whose deadline is about to pass."""
        out: list[Commitment | Reject] = []
        for block_number in sorted(self.books):
            block_at = self.block_time(block_number)
            book = self.books[block_number]
            done = self.rounds_done.setdefault(block_number, set())
            if self.params.mode == "periodic":
                due = [block_at - t for t in self.params.round_offsets
                       if block_at - t <= now and block_at - t not in done]
                run = bool(due)
                done.update(due)
            else:
                final_at = block_at - self.params.final_offset
                overdue = bool(book.deadlines) and book.deadlines[0][0] <= now + self.reject_lead_ms
                run = bool(book.pending) and (overdue or (now >= final_at and final_at not in done))
                if now >= final_at:
                    done.add(final_at)
            if run:
                out.extend(self.run_round(block_number, now))
            else:
                out.extend(self._expire(book, now))
        return out


def _pending(sb: SignedBid, bidder: str, gas: int, arrival: int, deadline: int) -> Pending:
    bid = sb.bid
    return Pending(sb, bidder, gas, arrival, deadline, ask=ask_of(bid.bid_options, bid.txn_hash, gas),
                   txs=max(1, bid.txn_hash.count(",") + 1))
