"""Signed rejects and equivocation proofs: genuine proofs verify, forgeries fail."""

import pytest
from preconf_fixtures import CAROL, CHAIN_ID, CONTRACT, PROVIDER, make_bid

from mevauction.preconf.evidence import Equivocation, InvalidEvidence, Reject
from mevauction.preconf.messages import Commitment


def test_commit_and_reject_convict_the_provider():
    bid = make_bid("ab" * 32, 100)
    commitment = Commitment.make(bid, (1, 2), PROVIDER, 50)
    reject = Reject.make(bid.digest, 40, "not-selected", CHAIN_ID, CONTRACT, PROVIDER)
    evidence = Equivocation(commitment, reject)
    assert evidence.provider() == PROVIDER.address
    assert Equivocation.from_json(evidence.to_json()).provider() == PROVIDER.address


def test_two_commitments_for_one_bid_convict():
    bid = make_bid("ab" * 32, 100)
    first = Commitment.make(bid, (1, 2), PROVIDER, 50)
    second = Commitment.make(bid, (3, 4), PROVIDER, 60)
    assert Equivocation(first, second).provider() == PROVIDER.address
    with pytest.raises(InvalidEvidence, match="same commitment"):
        Equivocation(first, first).provider()


def test_forgeries_fail():
    bid = make_bid("ab" * 32, 100)
    commitment = Commitment.make(bid, (1, 2), PROVIDER, 50)
    # A reject made by someone else cannot convict the provider.
    framed = Reject.make(bid.digest, 40, "not-selected", CHAIN_ID, CONTRACT, CAROL)
    with pytest.raises(InvalidEvidence, match="different keys"):
        Equivocation(commitment, framed).provider()
    # A reject for another bid is no conflict.
    other = Reject.make(make_bid("cd" * 32, 100).digest, 40, "not-selected", CHAIN_ID, CONTRACT, PROVIDER)
    with pytest.raises(InvalidEvidence, match="different bids"):
        Equivocation(commitment, other).provider()
    # A reject whose reason was altered after signing no longer verifies to the provider.
    genuine = Reject.make(bid.digest, 40, "not-selected", CHAIN_ID, CONTRACT, PROVIDER)
    altered = Reject(genuine.bid_digest, genuine.timestamp, "expired", CHAIN_ID, CONTRACT, genuine.signature)
    with pytest.raises(InvalidEvidence):
        Equivocation(commitment, altered).provider()
    # A commitment whose digest does not belong to the bid is refused.
    forged = Commitment(bid, (9, 9), commitment.digest, commitment.signature, 50, PROVIDER.address)
    with pytest.raises(InvalidEvidence, match="does not verify"):
        Equivocation(forged, genuine).provider()
    # A reject on another chain is not about the same message domain.
    elsewhere = Reject.make(bid.digest, 40, "not-selected", 1, CONTRACT, PROVIDER)
    with pytest.raises(InvalidEvidence, match="different chains"):
        Equivocation(commitment, elsewhere).provider()


def test_reject_round_trip_and_reason_codes():
    bid = make_bid("ab" * 32, 100)
    reject = Reject.make(bid.digest, 40, "replay", CHAIN_ID, CONTRACT, PROVIDER)
    assert Reject.from_json(reject.to_json()) == reject and reject.signer() == PROVIDER.address
    with pytest.raises(ValueError):
        Reject.make(bid.digest, 40, "because I said so", CHAIN_ID, CONTRACT, PROVIDER)


def test_bad_signature_reject_does_not_frame_an_honest_provider():
    """A forged copy of a bid gets a signed 'bad-signature' reject; when the genuine
    bid with the same digest is then committed, the pair is not equivocation."""
    bid = make_bid("ab" * 32, 100)
    reject = Reject.make(bid.digest, 30, "bad-signature", CHAIN_ID, CONTRACT, PROVIDER)
    commitment = Commitment.make(bid, (1, 2), PROVIDER, 50)
    with pytest.raises(InvalidEvidence, match="forged message"):
        Equivocation(commitment, reject).provider()
