"""Published, signed auction parameters, and the audit that the engine followed them.

The preconfirmation-auctions paper, "Mechanisms with commitment": a provider that publicly commits to sell a
share of the block by a declared mechanism (capacity schedule C_{-t}, reserve, timely
rejects) solicits earlier bids and removes the deferring problem. Here the provider
signs its parameters; the engine records a transcript of every round (the offers it
saw, the reserve and capacity it used, what it accepted), and :func:`audit` replays
each round with the pure rule of :mod:`mevauction.preconf.knapsack` and the pure
reserve policy, so anyone holding the signed parameters, the transcript and the
bidders' signed bids can check that the provider did what it promised.

The parameter digest is keccak256 of a fixed prefix and the canonical JSON (sorted
keys, no spaces); it is signed like every other message (secp256k1, v = 27/28).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mevauction.errors import InputError, require
from mevauction.eth.keccak import keccak
from mevauction.preconf.decay import decayed_amount
from mevauction.preconf.hashing import address_bytes
from mevauction.preconf.keys import BadSignature, Signer, recover_signer
from mevauction.preconf.knapsack import Offer, forward_greedy
from mevauction.preconf.messages import SignedBid, parse_signature, parse_uint
from mevauction.preconf.policy import ReservePolicy

PARAMS_FORMAT = "mevauction.preconf.auction-params/1"
PARAMS_PREFIX = b"\x19mevauction preconf auction parameters\n"
MODES = ("periodic", "continuous")


@dataclass(frozen=True, slots=True)
class AuctionParameters:
    """A provider's published auction rules for the blocks it builds.

    ``schedule`` holds (ms before the block, cumulative gas sold by then); in
    ``periodic`` mode an auction runs at each of those times, in ``continuous`` mode
    on every arriving bid, with the capacity of the latest step reached. A bid not
    accepted within ``reject_within_ms`` of its arrival is rejected with a signed
    reject at the next auction; at the last step every pending bid is decided.
    """

    provider: str
    chain_id: int
    contract: str
    schedule: tuple[tuple[int, int], ...]
    reserve: ReservePolicy
    reject_within_ms: int
    mode: str = "periodic"

    def __post_init__(self) -> None:
        if not self.schedule:
            raise ValueError("a schedule needs at least one step")
        offsets = [t for t, _ in self.schedule]
        caps = [c for _, c in self.schedule]
        if offsets != sorted(offsets, reverse=True) or len(set(offsets)) != len(offsets):
            raise ValueError("schedule steps must be in strictly decreasing ms-before-block order")
        if caps != sorted(caps):
            raise ValueError("cumulative capacity must not decrease along the schedule")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")

    @property
    def final_offset(self) -> int:
        return self.schedule[-1][0]

    @property
    def round_offsets(self) -> list[int]:
        return [t for t, _ in self.schedule]

    def cumulative_capacity(self, ms_before_block: int) -> int:
        """C_{-t}: gas the provider may have sold by ``ms_before_block`` before the block."""
        reached = [cap for offset, cap in self.schedule if offset >= ms_before_block]
        return reached[-1] if reached else 0

    def to_json(self) -> dict:
        return {
            "format": PARAMS_FORMAT, "provider": self.provider, "chainId": self.chain_id,
            "contract": self.contract, "mode": self.mode, "rejectWithinMs": self.reject_within_ms,
            "schedule": [{"msBeforeBlock": t, "capacityGas": c} for t, c in self.schedule],
            "reserve": self.reserve.to_json(),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "params") -> AuctionParameters:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        require(data.get("format") == PARAMS_FORMAT, f"{where}.format", f"must be {PARAMS_FORMAT!r}")
        for name in ("provider", "contract"):
            value = data.get(name)
            require(isinstance(value, str), f"{where}.{name}", "must be an address string")
            try:
                address_bytes(value)  # type: ignore[arg-type]
            except ValueError as exc:
                raise InputError(f"{where}.{name}", str(exc)) from None
        steps = data.get("schedule")
        if not (isinstance(steps, list) and steps):
            raise InputError(f"{where}.schedule", "must be a non-empty list")
        schedule = tuple(
            (
                parse_uint(
                    s.get("msBeforeBlock") if isinstance(s, dict) else None, f"{where}.schedule[{i}].msBeforeBlock", 64
                ),
                parse_uint(
                    s.get("capacityGas") if isinstance(s, dict) else None, f"{where}.schedule[{i}].capacityGas", 64
                ),
            )
            for i, s in enumerate(steps)
        )
        try:
            return cls(data["provider"], parse_uint(data.get("chainId"), f"{where}.chainId", 256), data["contract"],
                       schedule, ReservePolicy.from_json(data.get("reserve"), f"{where}.reserve"),
                       parse_uint(data.get("rejectWithinMs", 0), f"{where}.rejectWithinMs", 64),
                       data.get("mode", "periodic"))
        except ValueError as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{where}.schedule", str(exc)) from None

    def digest(self) -> bytes:
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()
        return keccak(PARAMS_PREFIX + canonical)

    def sign(self, signer: Signer) -> SignedParameters:
        if signer.address.lower() != self.provider.lower():
            raise ValueError("parameters name another provider than the signing key")
        return SignedParameters(self, signer.sign(self.digest()))


@dataclass(frozen=True, slots=True)
class SignedParameters:
    params: AuctionParameters
    signature: bytes

    def verify(self) -> str:
        """The provider's address if the signature is the named provider's; raises BadSignature."""
        signer = recover_signer(self.params.digest(), self.signature)
        if signer.lower() != self.params.provider.lower():
            raise BadSignature(
                "signature", f"parameters signed by {signer}, not by the named provider {self.params.provider}"
            )
        return signer

    def to_json(self) -> dict:
        return {**self.params.to_json(), "signature": self.signature.hex()}

    @classmethod
    def from_json(cls, data: object, where: str = "params") -> SignedParameters:
        params = AuctionParameters.from_json(data, where)
        assert isinstance(data, dict)
        return cls(params, parse_signature(data.get("signature"), f"{where}.signature"))


class AuditFailure(ValueError):
    """The transcript shows a round that the published rule would have decided otherwise."""


def audit(signed: SignedParameters, transcript: list[dict], bids: dict[str, SignedBid]) -> int:
    """Replay every round of ``transcript`` under ``signed``; return the rounds checked.

    Each round records its block, time (``at``, ms), the block's time, the reserve and
    capacity used, the offers (bid digest, gas, arrival) and the accepted digests;
    ``observed`` lists (digest, gas) of the bids first seen for the block since the
    previous round (the reserve policy looks at all of them so far). Offer
    values are recomputed from the bidders' signed bids, so the provider cannot
    misstate what a bid was worth.
    """
    signed.verify()
    params = signed.params
    reserves: dict[int, int] = {}
    sold: dict[int, int] = {}
    observed: dict[int, list[int]] = {}
    for n, rnd in enumerate(transcript):
        block = rnd["block"]
        at = rnd["at"]
        ms_before = rnd["blockTime"] - at
        seen = observed.setdefault(block, [])
        for digest_hex, gas in rnd["observed"]:
            seen.append(_checked_bid(bids, digest_hex, n).bid.bid_amt // gas)
        reserve = params.reserve.next_reserve(reserves.get(block, 0), seen)
        if reserve != rnd["reserve"]:
            raise AuditFailure(f"round {n}: reserve {rnd['reserve']} but the policy gives {reserve}")
        reserves[block] = reserve
        capacity = params.cumulative_capacity(ms_before) - sold.get(block, 0)
        if capacity != rnd["capacity"]:
            raise AuditFailure(f"round {n}: capacity {rnd['capacity']} but the schedule leaves {capacity}")
        offers = []
        for digest_hex, gas, arrival in rnd["offers"]:
            bid = _checked_bid(bids, digest_hex, n).bid
            offers.append(
                Offer(digest_hex, decayed_amount(bid.bid_amt, bid.decay_start, bid.decay_end, at), gas, arrival)
            )
        expected = forward_greedy(offers, capacity, reserve)
        if expected != rnd["accepted"]:
            raise AuditFailure(f"round {n}: accepted {rnd['accepted']} but the rule accepts {expected}")
        gas_of = {o.key: o.gas for o in offers}
        sold[block] = sold.get(block, 0) + sum(gas_of[k] for k in expected)
    return len(transcript)


def _checked_bid(bids: dict[str, SignedBid], digest_hex: str, n: int) -> SignedBid:
    bid = bids.get(digest_hex)
    if bid is None:
        raise AuditFailure(f"round {n}: no signed bid for digest {digest_hex}")
    try:
        bid.bidder()
    except BadSignature as exc:
        raise AuditFailure(f"round {n}: bid {digest_hex} does not verify: {exc}") from None
    return bid
