"""Signed rejects and equivocation evidence (preconfirmation-auctions paper, "Provider commitments").

mev-commit has no signed reject; a provider that commits to *timely* rejects gives
bids a de facto expiry, and that promise is only credible if a provider who both
accepts and rejects one bid can be caught. A reject here is typed data in the same
style as mev-commit's messages (same non-standard domain encoding, domain name
"PreConfReject"), so it binds the provider, the bid digest, the chain and the
PreconfManager contract.

Evidence of equivocation is either

* a commitment and a reject for the same bid digest, or
* two commitments with different digests for the same bid digest,

each signed by the same provider. Anyone can check it from the messages alone.
The reason on a reject is a short code from :data:`REASONS`, so a reject says why
a bid was refused without revealing the provider's strategy.
"""

from __future__ import annotations

from dataclasses import dataclass

from mevauction.errors import require
from mevauction.eth.keccak import keccak
from mevauction.preconf import hashing
from mevauction.preconf.keys import BadSignature, Signer, recover_signer
from mevauction.preconf.messages import COMMITMENT_FORMAT, Commitment, parse_hash32, parse_signature, parse_uint

REJECT_DOMAIN_NAME = "PreConfReject"
REJECT_TYPE = b"PreConfReject(bytes32 bidHash,uint64 rejectTimeStamp,string reason)"
REJECT_TYPEHASH = keccak(REJECT_TYPE)
REJECT_FORMAT = "mevauction.preconf.reject/1"
EVIDENCE_FORMAT = "mevauction.preconf.equivocation/1"

REASONS = {
    "zero-amount": "bid amount is zero",
    "decay-window": "decay end is not after decay start",
    "wrong-chain": "bid is signed for another chain or contract",
    "bad-signature": "signature does not verify",
    "unknown-provider": "bid is addressed to a provider that is not registered",
    "replay": "bid digest already seen",
    "not-an-increment": "a later bid for the same transaction must raise the amount",
    "already-committed": "transaction already committed for this block",
    "expired": "bid arrived after its block's last auction",
    "insufficient-deposit": "deposit does not cover the bid",
    "not-selected": "bid was not selected before the reject deadline",
}


def reject_digest(bid_digest: bytes, reject_timestamp: int, reason: str, chain_id: int, contract: str) -> bytes:
    separator = hashing.domain_separator(REJECT_DOMAIN_NAME, chain_id, contract)
    struct = keccak(REJECT_TYPEHASH + bid_digest + hashing.word(reject_timestamp)
                               + keccak(reason.encode()))
    return hashing.typed_digest(separator, struct)


@dataclass(frozen=True, slots=True)
class Reject:
    bid_digest: bytes
    timestamp: int
    reason: str
    chain_id: int
    contract: str
    signature: bytes

    @classmethod
    def make(cls, bid_digest: bytes, timestamp: int, reason: str, chain_id: int, contract: str,
             signer: Signer) -> Reject:
        if reason not in REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        digest = reject_digest(bid_digest, timestamp, reason, chain_id, contract)
        return cls(bid_digest, timestamp, reason, chain_id, contract, signer.sign(digest))

    def signer(self) -> str:
        return recover_signer(reject_digest(self.bid_digest, self.timestamp, self.reason,
                                            self.chain_id, self.contract), self.signature)

    def to_json(self) -> dict:
        return {"format": REJECT_FORMAT, "bidDigest": self.bid_digest.hex(), "rejectTimeStamp": self.timestamp,
                "reason": self.reason, "chainId": self.chain_id, "contract": self.contract,
                "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, data: object, where: str = "reject") -> Reject:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        require(data.get("format") == REJECT_FORMAT, f"{where}.format", f"must be {REJECT_FORMAT!r}")
        reason = data.get("reason")
        require(reason in REASONS, f"{where}.reason", f"must be one of {sorted(REASONS)}")
        contract = data.get("contract")
        require(isinstance(contract, str), f"{where}.contract", "must be an address")
        return cls(parse_hash32(data.get("bidDigest"), f"{where}.bidDigest"),
                   parse_uint(data.get("rejectTimeStamp"), f"{where}.rejectTimeStamp", 64),
                   reason, parse_uint(data.get("chainId"), f"{where}.chainId", 256),  # type: ignore[arg-type]
                   contract, parse_signature(data.get("signature"), f"{where}.signature"))  # type: ignore[arg-type]


# Reject reasons about the message's envelope (its signature) rather than the bid.
ENVELOPE_REASONS = frozenset({"bad-signature"})


class InvalidEvidence(ValueError):
    """The messages do not prove that one provider equivocated."""


@dataclass(frozen=True, slots=True)
class Equivocation:
    """Two conflicting signed statements by one provider about one bid."""

    commitment: Commitment
    other: Commitment | Reject

    def provider(self) -> str:
        """The provider convicted by this evidence; raises InvalidEvidence if it proves nothing."""
        try:
            first = self.commitment.committer()
            second = self.other.committer() if isinstance(self.other, Commitment) else self.other.signer()
        except BadSignature as exc:
            raise InvalidEvidence(f"a message does not verify: {exc}") from None
        bid = self.commitment.signed_bid
        other_digest = (self.other.signed_bid.digest if isinstance(self.other, Commitment)
                        else self.other.bid_digest)
        if other_digest != bid.digest:
            raise InvalidEvidence("the two messages are about different bids")
        other_domain = ((self.other.signed_bid.chain_id, self.other.signed_bid.contract.lower())
                        if isinstance(self.other, Commitment) else (self.other.chain_id, self.other.contract.lower()))
        if other_domain != (bid.chain_id, bid.contract.lower()):
            raise InvalidEvidence("the two messages are for different chains or contracts")
        if isinstance(self.other, Commitment) and self.other.digest == self.commitment.digest:
            raise InvalidEvidence("the same commitment twice is not equivocation")
        if isinstance(self.other, Reject) and self.other.reason in ENVELOPE_REASONS:
            # Such a reject answers a message whose signature failed, not the bid:
            # anyone can send the bid's fields with a bad signature, so it cannot
            # contradict a commitment to the genuinely signed bid.
            raise InvalidEvidence(f"a {self.other.reason!r} reject is about a forged message, not the bid")
        if first != second:
            raise InvalidEvidence(f"signed by different keys ({first} and {second})")
        return first

    def to_json(self) -> dict:
        kind = "commit-commit" if isinstance(self.other, Commitment) else "commit-reject"
        return {"format": EVIDENCE_FORMAT, "kind": kind, "commitment": self.commitment.to_json(),
                "other": self.other.to_json()}

    @classmethod
    def from_json(cls, data: object, where: str = "evidence") -> Equivocation:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        require(data.get("format") == EVIDENCE_FORMAT, f"{where}.format", f"must be {EVIDENCE_FORMAT!r}")
        other = data.get("other")
        is_commitment = isinstance(other, dict) and other.get("format") == COMMITMENT_FORMAT
        parsed_other = (Commitment.from_json(other, f"{where}.other") if is_commitment
                        else Reject.from_json(other, f"{where}.other"))
        return cls(Commitment.from_json(data.get("commitment"), f"{where}.commitment"), parsed_other)
