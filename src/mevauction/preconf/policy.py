"""Reserve-price policies for the provider's auctions.

* ``fixed``: one published reserve per gas.
* ``lift-lining`` (preconfirmation-auctions paper, "Provider information"): like an auctioneer who raises a
  secret reserve as bids reveal the distribution of bidder types, the reserve at a
  round is the running maximum, over the rounds so far for this block, of a quantile of
  the value per gas of all bids seen for the block — never below a floor, and only
  once ``min_samples`` bids have been seen. Informative (high) bids therefore lift the
  reserve for later rounds; it never falls within a block.

Both are pure functions of published parameters and the observed bids, so an auditor
replaying a transcript recomputes every reserve (see :mod:`mevauction.preconf.params`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mevauction.errors import InputError, require
from mevauction.preconf.messages import parse_uint

PER_MILLE = 1000


@dataclass(frozen=True, slots=True)
class ReservePolicy:
    kind: str  # "fixed" | "lift-lining"
    floor_per_gas: int
    quantile_per_mille: int = 500
    min_samples: int = 5

    def quantile(self, per_gas_values: list[int]) -> int:
        """Lower empirical quantile (nearest rank), integers only."""
        ordered = sorted(per_gas_values)
        rank = (len(ordered) - 1) * self.quantile_per_mille // PER_MILLE
        return ordered[rank]

    def next_reserve(self, previous: int, observed_per_gas: list[int]) -> int:
        """Reserve for the coming round given the last one and every bid seen for the block."""
        if self.kind == "fixed":
            return self.floor_per_gas
        lifted = previous
        if len(observed_per_gas) >= self.min_samples:
            lifted = max(lifted, self.quantile(observed_per_gas))
        return max(self.floor_per_gas, lifted)

    def to_json(self) -> dict[str, str | int]:
        data: dict[str, str | int] = {"policy": self.kind, "floorPerGasWei": str(self.floor_per_gas)}
        if self.kind == "lift-lining":
            data.update(quantilePerMille=self.quantile_per_mille, minSamples=self.min_samples)
        return data

    @classmethod
    def from_json(cls, data: object, where: str = "reserve") -> ReservePolicy:
        require(isinstance(data, dict), where, "must be a JSON object")
        assert isinstance(data, dict)
        kind = data.get("policy")
        require(kind in ("fixed", "lift-lining"), f"{where}.policy", "must be 'fixed' or 'lift-lining'")
        floor = parse_uint(data.get("floorPerGasWei", 0), f"{where}.floorPerGasWei", 256)
        if kind == "fixed":
            return cls("fixed", floor)
        q = parse_uint(data.get("quantilePerMille", 500), f"{where}.quantilePerMille", 16)
        if q > PER_MILLE:
            raise InputError(f"{where}.quantilePerMille", "must be at most 1000")
        return cls("lift-lining", floor, q, parse_uint(data.get("minSamples", 5), f"{where}.minSamples", 16))
