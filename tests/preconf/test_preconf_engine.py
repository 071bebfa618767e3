"""Provider decision engine: knapsack on hand-made pools, admission with reasons,
increments, deposits, published parameters and their audit, deferring vs decay."""

import pytest
from preconf_fixtures import ALICE, CAROL, CHAIN_ID, CONTRACT, PROVIDER, arrive, make_bid, make_engine

from mevauction.preconf.decay import decayed_amount
from mevauction.preconf.evidence import Reject
from mevauction.preconf.knapsack import Offer, forward_greedy
from mevauction.preconf.messages import Commitment, SignedBid
from mevauction.preconf.params import AuditFailure, SignedParameters, audit
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import Arrival, Refusal

BLOCK_AT = 24000  # block 2


def test_forward_greedy_hand_made_pool():
    pool = [Offer("a", 300, 100, 0), Offer("b", 500, 100, 1), Offer("c", 180, 60, 2), Offer("d", 90, 100, 3)]
    # per gas: b 5, a 3, c 3 (a first: earlier), d 0.9; capacity 250 -> b, a, then c does not fit (60 > 50)
    assert forward_greedy(pool, 250, 1) == ["b", "a"]
    # first fit: a smaller offer behind a skipped one is still taken
    assert forward_greedy([*pool, Offer("e", 100, 50, 4)], 250, 1) == ["b", "a", "e"]
    # reserve 4 per gas leaves only b
    assert forward_greedy(pool, 10_000, 4) == ["b"]
    assert forward_greedy([], 100, 0) == []
    assert forward_greedy(pool, 0, 0) == []


def test_forward_greedy_is_a_pure_function_of_the_offers():
    pool = [Offer(str(i), 1000 + 37 * i % 101, 10 + i % 7, i) for i in range(40)]
    assert forward_greedy(pool, 200, 50) == forward_greedy(list(reversed(pool)), 200, 50)


def test_periodic_rounds_follow_capacity_schedule():
    engine, _, _ = make_engine(schedule=((8000, 100), (0, 250)), reject_within_ms=100_000)
    for i, per_gas in enumerate((5, 4, 3)):
        assert engine.on_bid(arrive(make_bid(f"{i:064x}", per_gas * 100), 100, 14000 + i)) == []
    first = engine.run_round(2, BLOCK_AT - 8000)
    assert [type(m) for m in first] == [Commitment]  # C_{-8s} = 100 gas: one bid
    last = engine.run_round(2, BLOCK_AT)
    assert [type(m) for m in last] == [Commitment, Reject]  # 250 cumulative: one more, the rest rejected
    assert engine.books[2].sold_gas == 200


@pytest.mark.parametrize("reason,mutate", [
    ("zero-amount", lambda: (make_bid("01" * 32, 0), {})),
    ("decay-window", lambda: (make_bid("01" * 32, 10, start=50, end=50), {})),
    ("wrong-chain", lambda: (SignedBid.sign(make_bid("01" * 32, 10).bid, ALICE, 1, CONTRACT), {})),
])
def test_bad_bids_rejected_with_reason(reason, mutate):
    engine, _, _ = make_engine()
    signed, extra = mutate()
    [reject] = engine.on_bid(arrive(signed, 100, 14000, **extra))
    assert isinstance(reject, Reject) and reject.reason == reason
    assert reject.signer() == PROVIDER.address and reject.bid_digest == signed.digest
    assert reject.bid_signature == signed.signature


@pytest.mark.parametrize("reason,mutate", [
    ("unknown-provider", lambda: (make_bid("01" * 32, 10), {"provider": CAROL.address})),
    ("expired", lambda: (make_bid("01" * 32, 10, block=1), {})),
    ("wrong-sender", lambda: (make_bid("01" * 32, 10), {"bidder": CAROL.address})),
])
def test_transport_and_clock_faults_are_refused_unsigned(reason, mutate):
    """Not facts about the signed bid: the same bytes may be committed when they arrive
    properly, so nothing is signed (a signed reject would read as equivocation later)."""
    engine, _, _ = make_engine()
    signed, extra = mutate()
    arrival = Arrival(signed, extra.get("provider", PROVIDER.address), 100, 14000, extra.get("bidder"))
    with pytest.raises(Refusal) as refused:
        engine.on_bid(arrival)
    assert refused.value.reason == reason and engine.rejects == []


def test_bad_signature_replay_and_retries():
    engine, _, _ = make_engine(mode="continuous", reserve=ReservePolicy("fixed", 1000))
    good = make_bid("02" * 32, 10)
    # Carol's signature over Alice's bid fields is Carol's own bid, not a forgery of Alice's.
    copy = SignedBid(good.bid, CHAIN_ID, CONTRACT, good.digest, CAROL.sign(good.digest))
    forged_v = SignedBid(good.bid, CHAIN_ID, CONTRACT, good.digest, good.signature[:64] + b"\x05")
    [bad] = engine.on_bid(arrive(forged_v, 100, 14000))
    assert bad.reason == "bad-signature" and bad.bidder == "0x" + "00" * 20
    assert engine.on_bid(arrive(copy, 100, 14000)) == []  # Carol's bid, pending
    assert engine.on_bid(arrive(good, 100, 14001)) == []  # Alice's, not blocked by either
    assert engine.on_bid(arrive(good, 100, 14002)) == []  # a retry of a pending bid: nothing new
    # Alice's second signature over the same fields is a replay (keyed by bidder and digest).
    v01 = good.signature[:64] + bytes([good.signature[64] - 27])
    other_sig = SignedBid(good.bid, CHAIN_ID, CONTRACT, good.digest, v01)
    [replay] = engine.on_bid(arrive(other_sig, 100, 14003))
    assert replay.reason == "replay" and replay.bid_signature == other_sig.signature
    decided = {m.bid_digest + m.bid_signature: m for m in engine.tick(23_000)}  # reserve not met: all rejected
    assert engine.on_bid(arrive(good, 100, 23_001)) == [decided[good.digest + good.signature]]  # the same reject


def test_deposit_checked_and_escrow_released_on_reject():
    engine, _, ledger = make_engine(deposit=150)
    assert engine.on_bid(arrive(make_bid("03" * 32, 100), 100, 14000)) == []
    assert ledger.available(ALICE.address, PROVIDER.address) == 50
    [r] = engine.on_bid(arrive(make_bid("04" * 32, 60), 100, 14000))
    assert r.reason == "insufficient-deposit"
    [c] = engine.run_round(2, BLOCK_AT - 8000)
    assert isinstance(c, Commitment)  # accepted: the amount stays in escrow until settlement
    assert ledger.escrowed(ALICE.address, PROVIDER.address) == 100
    engine.on_bid(arrive(make_bid("08" * 32, 40), 100, 17000))
    [r] = engine.run_round(2, BLOCK_AT)  # 0.4 per gas is below the reserve of 1
    assert r.reason == "not-selected" and ledger.available(ALICE.address, PROVIDER.address) == 50


def test_increments_add_up_to_one_commitment():
    engine, _, ledger = make_engine(reserve=ReservePolicy("fixed", 3), reject_within_ms=100_000)
    tx = "05" * 32
    assert engine.on_bid(arrive(make_bid(tx, 200), 100, 13000)) == []
    assert engine.run_round(2, BLOCK_AT - 8000) == []  # 2/gas below the reserve of 3: still pending
    first = engine.books[2].pending[(ALICE.address.lower(), tx)].signed_bid
    raised = make_bid(tx, 350)  # running total: 200 + 150
    [superseded] = engine.on_bid(arrive(raised, 100, 16500))
    assert superseded.reason == "superseded" and superseded.bid_digest == first.digest
    assert ledger.escrowed(ALICE.address, PROVIDER.address) == 350
    [c] = engine.run_round(2, BLOCK_AT - 4000)
    assert isinstance(c, Commitment) and c.signed_bid == raised
    assert engine.on_bid(arrive(make_bid(tx, 300), 100, 21000))[0].reason == "already-committed"
    other = "06" * 32
    engine.on_bid(arrive(make_bid(other, 500), 100, 21000))
    assert engine.on_bid(arrive(make_bid(other, 400), 100, 21001))[0].reason == "not-an-increment"


def test_reject_deadline_gives_bids_an_expiry():
    engine, _, ledger = make_engine(reserve=ReservePolicy("fixed", 10), reject_within_ms=1000)
    engine.on_bid(arrive(make_bid("07" * 32, 100), 100, 15500))
    assert engine.run_round(2, BLOCK_AT - 8000) == []  # deadline 16500 not reached at 16000
    [r] = engine.run_round(2, BLOCK_AT - 4000)
    assert r.reason == "not-selected" and r.timestamp == 20000  # a round runs the overdue ones too
    assert ledger.escrowed(ALICE.address, PROVIDER.address) == 0


def test_published_parameters_are_signed_and_audited():
    engine, params, _ = make_engine(reserve=ReservePolicy("lift-lining", 1, 500, 3), reject_within_ms=5000)
    signed = params.sign(PROVIDER)
    assert SignedParameters.from_json(signed.to_json()).verify() == PROVIDER.address
    bids = {}
    for i, (per_gas, gas, at) in enumerate([(5, 100, 12500), (2, 300, 13000), (9, 50, 15000),
                                            (4, 100, 17000), (7, 200, 19000), (3, 100, 21000)]):
        sb = make_bid(f"{i + 16:064x}", per_gas * gas)
        bids[sb.key] = sb
        engine.tick(at)  # the rounds that came due before this arrival, run on time
        engine.on_bid(arrive(sb, gas, at))
    engine.tick(BLOCK_AT)
    assert audit(signed, engine.transcript, bids) == 3
    assert engine.transcript[-1]["reserve"] >= engine.transcript[0]["reserve"]  # lift-lining only rises
    # A provider that quietly drops an accepted bid is caught.
    tampered = [dict(r) for r in engine.transcript]
    victim = next(r for r in tampered if r["accepted"])
    victim["accepted"] = victim["accepted"][1:]
    with pytest.raises(AuditFailure, match="rule accepts"):
        audit(signed, tampered, bids)
    # So is one that uses a reserve other than the published policy gives.
    tampered = [dict(r) for r in engine.transcript]
    tampered[0]["reserve"] += 1
    with pytest.raises(AuditFailure, match="reserve"):
        audit(signed, tampered, bids)
    # And parameters signed by someone else do not verify.
    with pytest.raises(ValueError):
        params.sign(ALICE)


def test_deferring_provider_accepts_nothing_early_without_decay():
    engine, _, _ = make_engine(
        schedule=((8000, 100), (4000, 200), (0, 300)), rule="deferring", reject_within_ms=100_000
    )
    for i in range(4):
        engine.on_bid(arrive(make_bid(f"{i + 32:064x}", 1000, start=BLOCK_AT, end=BLOCK_AT + 1), 100, 13000))
    assert engine.run_round(2, BLOCK_AT - 8000) == []
    assert engine.run_round(2, BLOCK_AT - 4000) == []
    assert len([m for m in engine.run_round(2, BLOCK_AT) if isinstance(m, Commitment)]) == 3


def test_decay_makes_the_deferring_provider_accept_early():
    engine, _, _ = make_engine(rule="deferring", reject_within_ms=100_000, later_price=5)
    engine.on_bid(arrive(make_bid("40" * 32, 1000, start=13000, end=25000), 100, 13000))  # 10/gas, decaying
    engine.on_bid(arrive(make_bid("41" * 32, 400, start=13000, end=25000), 100, 13000))   # 4/gas: not worth it
    [c] = engine.run_round(2, BLOCK_AT - 8000)
    assert c.signed_bid.bid.bid_amt == 1000


def test_a_late_round_is_dated_when_it_runs_not_when_it_was_scheduled():
    """Issue 14: a bid arriving at T-5500 ms was committed by the T-6000 round as if
    dispatched at T-6000, keeping 100 % of its value instead of the decayed 80 %."""
    engine, _, _ = make_engine(schedule=((6000, 100_000), (0, 200_000)), reject_within_ms=100_000)
    t = BLOCK_AT
    sb = make_bid("70" * 32, 1000, start=t - 6000, end=t - 3500)  # 80 % left at T-5500
    assert engine.on_bid(arrive(sb, 100, t - 5500)) == []
    [c] = engine.tick(t - 5500)  # the T-6000 round comes due now: it runs now
    assert c.dispatch_timestamp == t - 5500
    assert decayed_amount(1000, sb.bid.decay_start, sb.bid.decay_end, c.dispatch_timestamp) == 800
    assert engine.tick(t - 5000) == []  # and is not run a second time


def test_rejects_go_out_by_their_deadline_in_periodic_mode_too():
    """Issue 14: deadlines were only processed at rounds (16.5 s late with a 1.5 s deadline)."""
    engine, _, ledger = make_engine(schedule=((8000, 100), (0, 200)), reject_within_ms=1500,
                                    reserve=ReservePolicy("fixed", 1000))
    engine.reject_lead_ms = 100
    sb = make_bid("71" * 32, 100)
    engine.on_bid(arrive(sb, 100, 17_000))  # after the T-8000 round, long before the last one
    assert engine.tick(18_000) == []
    [r] = engine.tick(18_420)  # within the lead of its 18_500 deadline: rejected, dated now
    assert r.reason == "not-selected" and r.timestamp == 18_420 <= 17_000 + 1500
    assert ledger.escrowed(ALICE.address, PROVIDER.address) == 0
