"""Signed rejects and equivocation evidence: a reject binds the signed bid (digest, exact
signature bytes, bidder), so evidence convicts a provider that decided one signed bid two
ways, whatever the reason, and never an honest engine facing retries, replays, copies
signed by others, forged signatures or relays (property-tested over random runs)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from preconf_fixtures import ALICE, CAROL, CHAIN_ID, CONTRACT, PROVIDER, make_bid, make_engine
from test_preconf_capacity import laid_out, slashed

from mevauction.preconf import bidoptions
from mevauction.preconf.evidence import REASONS, Equivocation, InvalidEvidence, Reject, find_equivocations
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Bid, Commitment, SignedBid
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import Arrival, Refusal
from property_settings import examples


def reject(bid: SignedBid, reason: str = "not-selected", at: int = 40, signer: Signer = PROVIDER,
           chain: int = CHAIN_ID) -> Reject:
    return Reject.make(bid, at, reason, chain, CONTRACT, signer)


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_commit_and_any_reject_of_the_same_signed_bid_convict(reason):
    """Including 'bad-signature': the engine that signed it saw exactly these bytes."""
    bid = make_bid("ab" * 32, 100)
    evidence = Equivocation(Commitment.make(bid, (1, 2), PROVIDER, 50), reject(bid, reason))
    assert evidence.provider() == PROVIDER.address
    assert Equivocation.from_json(evidence.to_json()).provider() == PROVIDER.address


def test_two_commitments_for_one_signed_bid_convict():
    bid = make_bid("ab" * 32, 100)
    first = Commitment.make(bid, (1, 2), PROVIDER, 50)
    assert Equivocation(first, Commitment.make(bid, (3, 4), PROVIDER, 60)).provider() == PROVIDER.address
    with pytest.raises(InvalidEvidence, match="same commitment"):
        Equivocation(first, first).provider()


def test_messages_about_another_signature_over_the_same_fields_convict_nobody():
    bid = make_bid("ab" * 32, 100)
    commitment = Commitment.make(bid, (1, 2), PROVIDER, 50)
    copy = SignedBid(bid.bid, CHAIN_ID, CONTRACT, bid.digest, CAROL.sign(bid.digest))  # Carol signs Alice's fields
    broken = SignedBid(bid.bid, CHAIN_ID, CONTRACT, bid.digest, bid.signature[:64] + b"\x05")
    for other in (copy, broken):
        for reason in ("replay", "bad-signature", "insufficient-deposit"):
            with pytest.raises(InvalidEvidence, match="different signatures"):
                Equivocation(commitment, reject(other, reason)).provider()
    assert reject(copy).bidder == CAROL.address and reject(broken).bidder == "0x" + "00" * 20


def test_forgeries_fail():
    bid = make_bid("ab" * 32, 100)
    commitment = Commitment.make(bid, (1, 2), PROVIDER, 50)
    with pytest.raises(InvalidEvidence, match="different keys"):
        Equivocation(commitment, reject(bid, signer=CAROL)).provider()
    with pytest.raises(InvalidEvidence, match="different bids"):
        Equivocation(commitment, reject(make_bid("cd" * 32, 100))).provider()
    genuine = reject(bid)
    for altered in (Reject(genuine.bid_digest, genuine.bid_signature, genuine.bidder, genuine.timestamp, "replay",
                           CHAIN_ID, CONTRACT, genuine.signature),
                    Reject(genuine.bid_digest, genuine.bid_signature, CAROL.address, genuine.timestamp,
                           genuine.reason, CHAIN_ID, CONTRACT, genuine.signature)):
        with pytest.raises(InvalidEvidence):
            Equivocation(commitment, altered).provider()
    forged = Commitment(bid, (9, 9), commitment.digest, commitment.signature, 50, PROVIDER.address)
    with pytest.raises(InvalidEvidence, match="does not verify"):
        Equivocation(forged, genuine).provider()
    with pytest.raises(InvalidEvidence, match="different chains"):
        Equivocation(commitment, reject(bid, chain=1)).provider()


def test_reject_round_trip_and_reason_codes():
    bid = make_bid("ab" * 32, 100)
    r = reject(bid, "replay")
    assert Reject.from_json(r.to_json()) == r and r.signer() == PROVIDER.address and r.bidder == ALICE.address
    with pytest.raises(ValueError):
        reject(bid, "because I said so")


# -- the false convictions, against the engine itself ---------------------------
def test_a_retry_of_a_committed_bid_gets_the_commitment_again_not_a_replay_reject():
    engine, _, _ = make_engine(mode="continuous")
    bid = make_bid("01" * 32, 1000)
    [commitment] = engine.on_bid(Arrival(bid, PROVIDER.address, 100, 17000))
    assert engine.on_bid(Arrival(bid, PROVIDER.address, 100, 17500)) == [commitment]
    assert find_equivocations([*engine.commitments, *engine.rejects]) == []


def test_an_unfunded_copy_signed_first_does_not_block_or_frame():
    engine, _, _ = make_engine(mode="continuous")
    poor = Signer.from_label("poor")
    bid = make_bid("02" * 32, 1000)
    copy = SignedBid.sign(bid.bid, poor, CHAIN_ID, CONTRACT)  # same fields, hence same digest
    [refused] = engine.on_bid(Arrival(copy, PROVIDER.address, 100, 17000))
    assert refused.reason == "insufficient-deposit" and copy.digest == bid.digest
    [commitment] = engine.on_bid(Arrival(bid, PROVIDER.address, 100, 17001))
    assert isinstance(commitment, Commitment) and commitment.signed_bid == bid
    assert find_equivocations([refused, commitment]) == []


def test_a_relay_under_another_identity_is_refused_unsigned_and_does_not_block():
    engine, _, _ = make_engine(mode="continuous")
    bid = make_bid("03" * 32, 1000)
    with pytest.raises(Refusal):
        engine.on_bid(Arrival(bid, PROVIDER.address, 100, 17000, CAROL.address))
    [commitment] = engine.on_bid(Arrival(bid, PROVIDER.address, 100, 17001, ALICE.address))
    assert isinstance(commitment, Commitment) and engine.rejects == []


# -- property tests over random engines ---------------------------------------------
PK = (1, 2)  # the BN254 generator: a valid NIKE key, and no cost per bid
POOR = Signer.from_label("poor")


def _bid(n: int, amount: int, signer: Signer, options: bytes = b"") -> SignedBid:
    return SignedBid.sign(Bid(txn_hash=f"{n:064x}", bid_amt=amount, block_number=2, decay_start=10**12,
                              decay_end=10**12 + 1, bidder_pk_x=PK[0], bidder_pk_y=PK[1], bid_options=options),
                          signer, CHAIN_ID, CONTRACT)


def _variant(bid: SignedBid, kind: str) -> tuple[SignedBid, str | None]:
    """What an adversary (or the bidder itself) can send about ``bid``, and the peer identity."""
    if kind == "copy":
        return SignedBid(bid.bid, CHAIN_ID, CONTRACT, bid.digest, CAROL.sign(bid.digest)), None
    if kind == "unfunded-copy":
        return SignedBid(bid.bid, CHAIN_ID, CONTRACT, bid.digest, POOR.sign(bid.digest)), None
    if kind == "broken":
        return SignedBid(bid.bid, CHAIN_ID, CONTRACT, bid.digest, bid.signature[:64] + b"\x05"), None
    if kind == "v01":  # the same signature with v in {0, 1}: other bytes, same signer
        v01 = bid.signature[:64] + bytes([bid.signature[64] - 27])
        return SignedBid(bid.bid, CHAIN_ID, CONTRACT, bid.digest, v01), None
    if kind == "relay":
        return bid, CAROL.address
    return bid, (ALICE.address if kind == "authenticated" else None)


KINDS = ["genuine", "genuine", "authenticated", "copy", "unfunded-copy", "broken", "v01", "relay"]
# Position asks (anchor top; each (basis, value)): none, absolute index 0 or ≤ 1 (which
# clash), top 1 % of the transactions, gas percentile 0 (only the block's first bundle
# keeps it), and two constraints on one transaction (it can meet only one: never keepable).
POSITIONS = [None, None, ((2, 0),), ((2, 0),), ((2, 1),), ((1, 1),), ((3, 0),), ((2, 1), (1, 1))]
actions = st.lists(st.one_of(
    st.tuples(st.just("send"), st.integers(0, 3), st.integers(1, 4), st.sampled_from(KINDS),
              st.sampled_from(POSITIONS)),
    st.tuples(st.just("tick"), st.integers(0, 6), st.just(0), st.just(""), st.none()),
), min_size=1, max_size=25)


def _options(position: tuple[tuple[int, int], ...] | None) -> bytes:
    if position is None:
        return b""
    return bidoptions.encode([bidoptions.PositionConstraint(anchor=1, basis=b, value=v) for b, v in position])


def _run(mode: str, deposit: int, reject_within: int, steps, dishonest: str | None, holds: bool = False):
    engine, _, _ = make_engine(mode=mode, deposit=deposit, reject_within_ms=reject_within,
                               reserve=ReservePolicy("fixed", 2))
    if holds:  # a provider that holds only some of the transactions (``preconf_hash_only = "held"``)
        engine.holds = lambda sb: sb.bid.txn_hash[-1] in "02468ace"
    engine.ledger.deposit(POOR.address, PROVIDER.address, 1)
    seen: list[Commitment | Reject] = []
    now = 12_500
    for kind, a, b, variant, position in steps:
        if kind == "tick":
            now += a * 700
            seen.extend(engine.tick(min(now, 24_000)))
            continue
        now += 50
        if now >= 24_000 - engine.params.final_offset:
            break
        sent, peer = _variant(_bid(a, b * 100, ALICE, _options(position)), variant)
        try:
            seen.extend(engine.on_bid(Arrival(sent, PROVIDER.address, 100, now, peer)))
        except Refusal:
            pass
    seen.extend(engine.tick(24_000))
    if dishonest == "reject-a-commitment":  # it also rejects a bid it committed, for any reason
        for c in [m for m in seen if isinstance(m, Commitment)][:1]:
            seen.append(Reject.make(c.signed_bid, now, sorted(REASONS)[len(seen) % len(REASONS)], CHAIN_ID, CONTRACT,
                                    PROVIDER))
    return engine, seen


@settings(max_examples=examples(60), deadline=None)
@given(mode=st.sampled_from(["periodic", "continuous"]), deposit=st.sampled_from([150, 10**18]),
       reject_within=st.sampled_from([300, 5000]), steps=actions, holds=st.booleans())
def test_an_honest_engine_is_never_convicted(mode, deposit, reject_within, steps, holds):
    _, seen = _run(mode, deposit, reject_within, steps, None, holds)
    assert find_equivocations(seen) == []
    # What it committed, positions and all, is kept by the block the layout opens with them
    # (filled to the gas limit): an honest engine is never slashed for a clash.
    done = list({m.signed_bid.key: m for m in seen if isinstance(m, Commitment)}.values())  # retries: once
    block = laid_out(done, {c.signed_bid.bid.txn_hash: 100 for c in done}, 30_000_000 // 21_000 - len(done))
    assert slashed(done, block) == []
    commitments: dict[str, Commitment] = {}
    for c in (m for m in seen if isinstance(m, Commitment)):  # one commitment per signed bid, however often sent
        assert commitments.setdefault(c.signed_bid.key, c) == c


@settings(max_examples=examples(40), deadline=None)
@given(mode=st.sampled_from(["periodic", "continuous"]), steps=actions)
def test_a_dishonest_engine_is_always_convicted(mode, steps):
    _, seen = _run(mode, 10**18, 5000, steps, "reject-a-commitment")
    committed = [m for m in seen if isinstance(m, Commitment)]
    found = find_equivocations(seen)
    assert bool(found) == bool(committed)
    assert all(e.provider() == PROVIDER.address for e in found)


@settings(max_examples=examples(30), deadline=None)
@given(reason=st.sampled_from(sorted(REASONS)), at=st.integers(0, 2**64 - 1), n=st.integers(0, 2**32))
def test_commit_plus_any_reject_is_provable(reason, at, n):
    bid = _bid(n, 1000, ALICE)
    c = Commitment.make(bid, PK, PROVIDER, 5)
    assert Equivocation(c, Reject.make(bid, at, reason, CHAIN_ID, CONTRACT, PROVIDER)).provider() == PROVIDER.address
