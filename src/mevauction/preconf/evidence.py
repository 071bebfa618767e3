"""Signed rejects and equivocation evidence (preconfirmation-auctions paper, "Provider commitments").

mev-commit has no signed reject; a provider that commits to *timely* rejects gives
bids a de facto expiry, and that promise is only credible if a provider who both
accepts and rejects one bid can be caught. A reject here is typed data in the same
style as mev-commit's messages (same non-standard domain encoding, domain name
"PreConfReject").

A reject names the **signed bid** it answers, not only its digest: the bid digest,
the keccak of the exact signature bytes received, and the bidder they recover to
(the zero address when they recover to nobody). The digest alone does not identify a
bid: anyone can sign a bidder's exact fields with their own key, or send them with a
broken signature, and an honest provider must be able to refuse that copy and still
commit the genuine bid. A commitment binds the same two things (mev-commit's
commitment digest hashes the bid digest and the bid signature), so

* a commitment and a reject about the same (bid digest, bid signature), any reason, or
* two commitments with different digests about the same (bid digest, bid signature),

each signed by the same provider, are evidence of equivocation that anyone can check
from the messages alone; messages about a different signature over the same fields
never are. An honest engine (:mod:`mevauction.preconf.provider`) signs at most one
decision per signed bid and answers a retry with that decision, so it is never
convicted.
"""

from __future__ import annotations

from dataclasses import dataclass

from mevauction.errors import require
from mevauction.eth import fields
from mevauction.eth.keccak import keccak
from mevauction.preconf import hashing
from mevauction.preconf.keys import BadSignature, Signer, recover_signer
from mevauction.preconf.messages import (
    COMMITMENT_FORMAT,
    Commitment,
    SignedBid,
    parse_hash32,
    parse_signature,
    parse_uint,
)

REJECT_DOMAIN_NAME = "PreConfReject"
REJECT_TYPE = (b"PreConfReject(bytes32 bidHash,bytes32 bidSignatureHash,address bidder,"
               b"uint64 rejectTimeStamp,string reason)")
REJECT_TYPEHASH = keccak(REJECT_TYPE)
REJECT_FORMAT = "mevauction.preconf.reject/2"
EVIDENCE_FORMAT = "mevauction.preconf.equivocation/2"
NOBODY = "0x" + "00" * 20  # the bidder of a signature that recovers to no key

REASONS = {
    "zero-amount": "bid amount is zero",
    "decay-window": "decay end is not after decay start",
    "wrong-chain": "bid is signed for another chain or contract",
    "bad-signature": "signature does not verify",
    "replay": "this bidder already sent this bid digest under another signature",
    "not-an-increment": "a later bid for the same transaction must raise the amount",
    "already-committed": "transaction already committed for this block",
    "insufficient-deposit": "deposit does not cover the bid",
    "not-selected": "bid was not selected before the reject deadline",
    "superseded": "a higher bid from the same bidder for the same transactions replaced it",
    "position-unavailable": "its bidOptions position cannot be kept together with the block's committed positions",
    "unknown-transaction": "a hash-only bid names a transaction the provider does not hold",
}


def reject_digest(bid_digest: bytes, bid_signature: bytes, bidder: str, reject_timestamp: int, reason: str,
                  chain_id: int, contract: str) -> bytes:
    separator = hashing.domain_separator(REJECT_DOMAIN_NAME, chain_id, contract)
    struct = keccak(REJECT_TYPEHASH + bid_digest + keccak(bid_signature)
                    + b"\x00" * 12 + hashing.address_bytes(bidder, "bidder")
                    + hashing.word(reject_timestamp) + keccak(reason.encode()))
    return hashing.typed_digest(separator, struct)


def bidder_or_nobody(signed_bid: SignedBid) -> str:
    """The address the bid's signature recovers to over its digest, or :data:`NOBODY`."""
    try:
        return signed_bid.bidder()
    except BadSignature:
        return NOBODY


@dataclass(frozen=True, slots=True)
class Reject:
    bid_digest: bytes
    bid_signature: bytes
    bidder: str
    timestamp: int
    reason: str
    chain_id: int
    contract: str
    signature: bytes

    @classmethod
    def make(cls, signed_bid: SignedBid, timestamp: int, reason: str, chain_id: int, contract: str,
             signer: Signer, bidder: str | None = None) -> Reject:
        """A signed reject of ``signed_bid`` (its digest and exact signature bytes);
        ``bidder`` is what the signature recovers to, computed when not given."""
        if reason not in REASONS:
            raise ValueError(f"unknown reject reason {reason!r}")
        who = bidder if bidder is not None else bidder_or_nobody(signed_bid)
        digest = reject_digest(signed_bid.digest, signed_bid.signature, who, timestamp, reason, chain_id, contract)
        return cls(signed_bid.digest, signed_bid.signature, who, timestamp, reason, chain_id, contract,
                   signer.sign(digest))

    def signer(self) -> str:
        return recover_signer(reject_digest(self.bid_digest, self.bid_signature, self.bidder, self.timestamp,
                                            self.reason, self.chain_id, self.contract), self.signature)

    def to_json(self) -> dict:
        return {"format": REJECT_FORMAT, "bidDigest": self.bid_digest.hex(),
                "bidSignature": self.bid_signature.hex(), "bidder": self.bidder,
                "rejectTimeStamp": self.timestamp, "reason": self.reason, "chainId": self.chain_id,
                "contract": self.contract, "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, data: object, where: str = "reject") -> Reject:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        require(data.get("format") == REJECT_FORMAT, f"{where}.format", f"must be {REJECT_FORMAT!r}")
        reason = data.get("reason")
        require(reason in REASONS, f"{where}.reason", f"must be one of {sorted(REASONS)}")
        contract = data.get("contract")
        require(isinstance(contract, str), f"{where}.contract", "must be an address")
        bidder = fields.checksum(fields.address(data.get("bidder"), f"{where}.bidder"))
        return cls(parse_hash32(data.get("bidDigest"), f"{where}.bidDigest"),
                   parse_signature(data.get("bidSignature"), f"{where}.bidSignature"), bidder,
                   parse_uint(data.get("rejectTimeStamp"), f"{where}.rejectTimeStamp", 64),
                   reason, parse_uint(data.get("chainId"), f"{where}.chainId", 256),  # type: ignore[arg-type]
                   contract, parse_signature(data.get("signature"), f"{where}.signature"))  # type: ignore[arg-type]


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
        other = ((self.other.signed_bid.digest, self.other.signed_bid.signature) if isinstance(self.other, Commitment)
                 else (self.other.bid_digest, self.other.bid_signature))
        if other[0] != bid.digest:
            raise InvalidEvidence("the two messages are about different bids")
        if other[1] != bid.signature:
            # Same fields, another signature: another signed bid (a copy by someone
            # else, a forgery, or the bidder's second signature), not a contradiction.
            raise InvalidEvidence("the two messages are about different signatures over the bid")
        other_domain = ((self.other.signed_bid.chain_id, self.other.signed_bid.contract.lower())
                        if isinstance(self.other, Commitment) else (self.other.chain_id, self.other.contract.lower()))
        if other_domain != (bid.chain_id, bid.contract.lower()):
            raise InvalidEvidence("the two messages are for different chains or contracts")
        if isinstance(self.other, Commitment) and self.other.digest == self.commitment.digest:
            raise InvalidEvidence("the same commitment twice is not equivocation")
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


def find_equivocations(messages: list[Commitment | Reject]) -> list[Equivocation]:
    """Every valid piece of evidence among ``messages`` (any provider's): the commitments
    paired with each other message about the same signed bid, checked."""
    about: dict[tuple[bytes, bytes], list[Commitment | Reject]] = {}
    for m in messages:
        key = (m.signed_bid.digest, m.signed_bid.signature) if isinstance(m, Commitment) else (m.bid_digest,
                                                                                                 m.bid_signature)
        if m not in about.setdefault(key, []):
            about[key].append(m)
    found: list[Equivocation] = []
    for group in about.values():
        for c in (m for m in group if isinstance(m, Commitment)):
            for other in group:
                if other is c:
                    continue
                evidence = Equivocation(c, other)
                try:
                    evidence.provider()
                except InvalidEvidence:
                    continue
                found.append(evidence)
    return found
