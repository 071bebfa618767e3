"""Market simulation of preconf auctions: the deferring problem and its two remedies.

The preconfirmation-auctions paper, "Dynamic models": bids arrive as a point process over the slot; each
bidder's value follows a martingale; the provider runs auctions at t_0 … t_k before
the block through the real :class:`~mevauction.preconf.provider.ProviderEngine`
(real signatures, NIKE keys, commitments, rejects); whatever is left competes in the
spot auction at the block, whose price rises as preconfs take capacity away.

Bidders are risk averse about fees: a preconf is worth a premium over the expected
spot price in proportion to their risk aversion, the fee volatility and the chance —
learned from public acceptance data — of being accepted early, before the fee is
known. Each bids the chance-constrained amount (P[early acceptance] ≥ ``target_p``)
if that is within its willingness to pay, explores with its full willingness while
there is no data (and in a small share ``explore`` of cases, so that the public data
keeps coming), and otherwise waits for spot.

Policies: ``greedy`` (committed forward-greedy schedule, fixed reserve),
``dynamic-reserve`` (the same with a lift-lining reserve), ``deferring`` (a myopic
provider with no commitment). With ``decay off`` the deferring provider never accepts
early, bidders learn it, and the premium vanishes; decay or a committed schedule
restore early accepts.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import Progress

from mevauction.preconf import nike
from mevauction.preconf.decay import decayed_amount
from mevauction.preconf.deposits import DepositLedger
from mevauction.preconf.keys import Signer
from mevauction.preconf.messages import Bid, SignedBid
from mevauction.preconf.params import AuctionParameters
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import Arrival, ProviderEngine
from mevauction.preconf.strategy import AcceptanceModel

SIM_FORMAT = "mevauction.preconf.simulation/1"
POLICIES = ("greedy", "deferring", "dynamic-reserve")
CHAIN_ID = 17864
CONTRACT = "0x3761bF3932cD22d684A7485002E1424c3aCCD69c"
GWEI = 10**9


@dataclass(frozen=True)
class MarketConfig:
    slots: int = 100
    bidders: int = 40
    policy: str = "greedy"
    decay: bool = True
    seed: int = 1
    slot_ms: int = 12_000
    block_gas: int = 30_000_000
    # Sold as preconfs: small enough that the knapsack binds (40 bidders of 21k–200k gas
    # want ~3.7 M gas; about 70 % of the committed rounds are capacity-bound).
    preconf_share_gas: int = 2_000_000
    rounds_ms: tuple[int, ...] = (10_000, 8_000, 6_000, 4_000, 2_000, 500)
    decay_ms: int = 6_000
    reject_within_ms: int = 2_000
    base_fee_per_gas: int = 10 * GWEI
    fee_volatility: float = 0.5
    value_volatility: float = 0.3
    target_p: float = 0.9
    explore: float = 0.1
    reserve_per_gas: int = 8 * GWEI


@dataclass
class SlotStats:
    slot: int
    spot_price: int
    preconf_bids: int = 0
    accepted: int = 0
    early: int = 0
    preconf_revenue: int = 0
    spot_revenue: int = 0
    premiums: list[float] = field(default_factory=list)
    waits_ms: list[int] = field(default_factory=list)
    premium_wei: int = 0
    paid: list[tuple[int, int]] = field(default_factory=list)
    rounds: int = 0
    bound_rounds: int = 0


def _capacity_binds(round_: dict, bids: dict[str, SignedBid]) -> bool:
    """Whether the round's capacity was short of the gas of the offers that met its reserve."""
    wanted = 0
    for key, gas, _ in round_["offers"]:
        b = bids[key].bid
        if decayed_amount(b.bid_amt, b.decay_start, b.decay_end, round_["at"]) >= round_["reserve"] * gas:
            wanted += gas
    return wanted > round_["capacity"]


def _schedule(cfg: MarketConfig) -> tuple[tuple[int, int], ...]:
    steps = len(cfg.rounds_ms)
    return tuple((t, cfg.preconf_share_gas * (i + 1) // steps) for i, t in enumerate(cfg.rounds_ms))


def _params(cfg: MarketConfig, provider: Signer) -> AuctionParameters:
    reserve = (ReservePolicy("lift-lining", cfg.reserve_per_gas, 300, 5) if cfg.policy == "dynamic-reserve"
               else ReservePolicy("fixed", cfg.reserve_per_gas))
    return AuctionParameters(provider.address, CHAIN_ID, CONTRACT, _schedule(cfg), reserve,
                             cfg.reject_within_ms, "periodic")


def simulate(cfg: MarketConfig, progress: bool = True) -> dict:
    """Run the market for ``cfg.slots`` slots; return the report (mevauction.preconf.simulation/1)."""
    if cfg.policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}")
    rng = random.Random(cfg.seed)
    provider = Signer(rng.getrandbits(250) + 1)
    keys = [Signer(rng.getrandbits(250) + 1) for _ in range(cfg.bidders)]
    nike_keys = [nike.keypair()[1] for _ in keys]
    provider_nike = rng.getrandbits(250) + 1
    ledger = DepositLedger()
    for k in keys:
        ledger.deposit(k.address, provider.address, 10**24)
    params = _params(cfg, provider)
    engine = ProviderEngine(provider, provider_nike, params, ledger, lambda n: n * cfg.slot_ms,
                            rule="deferring" if cfg.policy == "deferring" else "committed",
                            later_price_per_gas=cfg.base_fee_per_gas)
    model = AcceptanceModel(window=60)
    early_rate = _Ratio()
    slots: list[SlotStats] = []
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task(f"simulating {cfg.policy}, decay {'on' if cfg.decay else 'off'}", total=cfg.slots)
        for s in range(cfg.slots):
            slots.append(_run_slot(cfg, s + 1, rng, engine, keys, nike_keys, model, early_rate))
            bar.advance(task)
    return _report(cfg, params, slots)


class _Ratio:
    """Share of recent preconf bids accepted early (public acceptance data), smoothed."""

    def __init__(self, prior: float = 0.5, weight: float = 0.1):
        self.value = prior
        self.weight = weight

    def update(self, accepted_early: int, bids: int) -> None:
        if bids:
            self.value += self.weight * (accepted_early / bids - self.value)


def _run_slot(cfg: MarketConfig, block: int, rng: random.Random, engine: ProviderEngine, keys: list[Signer],
              nike_keys: list[tuple[int, int]], model: AcceptanceModel, early_rate: _Ratio) -> SlotStats:
    block_at = block * cfg.slot_ms
    # Common random numbers: the slot's demand and fee surge depend only on (seed, slot),
    # so runs under different policies face the same market; ``rng`` drives only choices.
    world = random.Random(f"{cfg.seed}:{block}")
    surge = math.exp(cfg.fee_volatility * world.gauss(0, 1) - cfg.fee_volatility ** 2 / 2)
    expected_spot = cfg.base_fee_per_gas
    stats = SlotStats(block, 0)
    arrivals = sorted(world.uniform(cfg.rounds_ms[-1] + 100, cfg.slot_ms - 200) for _ in keys)
    types = [(world.choice((21_000, 50_000, 100_000, 200_000)), world.uniform(1.5, 4.0), world.uniform(0.2, 1.0))
             for _ in keys]
    events: list[tuple[int, int, int]] = []  # (time, kind 0=bid 1=round, index)
    for i, before in enumerate(arrivals):
        events.append((block_at - int(before), 0, i))
    for j, before in enumerate(cfg.rounds_ms):
        events.append((block_at - before, 1, j))
    events.sort()
    bidders = list(range(len(keys)))
    world.shuffle(bidders)
    sent: dict[bytes, tuple[int, int, int]] = {}  # digest -> (bidder, gas, arrival)
    amounts: dict[str, SignedBid] = {}  # offer key -> signed bid (for the capacity check)
    # Each bidder's value is a geometric martingale over the slot: V(τ) = V0·exp(σB(τ) − σ²τ/2),
    # τ the elapsed fraction of the slot, B a Brownian motion (E[V(τ)] = V0 for every τ);
    # a bidder acts on its value when it arrives.
    shocks = [world.gauss(0, 1) for _ in keys]
    committed_gas = 0
    for at, kind, index in events:
        if kind == 0:
            who = bidders[index]
            gas, value_multiple, risk_aversion = types[index]
            tau = max(0.0, (at - (block_at - cfg.slot_ms)) / cfg.slot_ms)
            sigma = cfg.value_volatility
            value = expected_spot * value_multiple * math.exp(sigma * math.sqrt(tau) * shocks[index]
                                                              - sigma * sigma * tau / 2)
            willing = int(expected_spot * (1 + risk_aversion * cfg.fee_volatility * 2 * early_rate.value))
            per_gas = model.min_bid_per_gas(cfg.target_p)
            if len(model) < 10 or rng.random() < cfg.explore:
                per_gas = willing  # no data yet, or exploring: bid the full willingness to pay
            if per_gas is None or per_gas > min(willing, int(value)):
                continue  # the chance constraint cannot be met: wait for spot
            start, end = (at, at + cfg.decay_ms) if cfg.decay else (block_at + 10**9, block_at + 10**9 + 1)
            bid = Bid(txn_hash=f"{world.getrandbits(256):064x}", bid_amt=per_gas * gas, block_number=block,
                      decay_start=start, decay_end=end, bidder_pk_x=nike_keys[who][0], bidder_pk_y=nike_keys[who][1])
            signed = SignedBid.sign(bid, keys[who], CHAIN_ID, CONTRACT)
            sent[signed.digest] = (who, gas, at)
            amounts[signed.key] = signed
            stats.preconf_bids += 1
            engine.on_bid(Arrival(signed, engine.signer.address, gas, at, keys[who].address))
        else:
            final = index == len(cfg.rounds_ms) - 1
            before = len(engine.commitments)
            engine.run_round(block, at)
            new = engine.commitments[before:]
            round_ = engine.transcript[-1]
            pending_before = len(round_["offers"])
            stats.rounds += 1
            stats.bound_rounds += _capacity_binds(round_, amounts)
            if not final:
                lowest = min((c.signed_bid.bid.bid_amt // sent[c.signed_bid.digest][1] for c in new), default=None)
                if lowest is not None or pending_before:
                    model.observe(lowest)
            for c in new:
                who, gas, arrived = sent[c.signed_bid.digest]
                committed_gas += gas
                stats.accepted += 1
                stats.early += not final
                paid = decayed_amount(c.signed_bid.bid.bid_amt, c.signed_bid.bid.decay_start,
                                      c.signed_bid.bid.decay_end, c.dispatch_timestamp)
                stats.preconf_revenue += paid
                stats.waits_ms.append(c.dispatch_timestamp - arrived)
                stats.paid.append((paid, gas))
    # Spot auction at the block: less capacity left → higher clearing price.
    remaining = cfg.block_gas - committed_gas
    scarcity = math.sqrt(cfg.block_gas / max(remaining, 1))
    stats.spot_price = int(cfg.base_fee_per_gas * surge * scarcity)
    stats.spot_revenue = stats.spot_price * remaining
    stats.premium_wei = sum(int(paid - stats.spot_price * gas) for paid, gas in stats.paid)
    stats.premiums = [paid / gas / stats.spot_price - 1 for paid, gas in stats.paid]
    early_rate.update(stats.early, stats.preconf_bids)
    return stats


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def _report(cfg: MarketConfig, params: AuctionParameters, slots: list[SlotStats]) -> dict:
    bids = sum(s.preconf_bids for s in slots)
    accepted = sum(s.accepted for s in slots)
    early = sum(s.early for s in slots)
    premiums = [p for s in slots for p in s.premiums]
    waits = [w for s in slots for w in s.waits_ms]
    return {
        "format": SIM_FORMAT,
        "config": {
            "slots": cfg.slots,
            "bidders": cfg.bidders,
            "policy": cfg.policy,
            "decay": "on" if cfg.decay else "off",
            "seed": cfg.seed,
        },
        "auctionParameters": params.to_json() if cfg.policy != "deferring" else None,
        "summary": {
            "providerRevenueWei": str(sum(s.preconf_revenue + s.spot_revenue for s in slots)),
            "preconfRevenueWei": str(sum(s.preconf_revenue for s in slots)),
            "spotRevenueWei": str(sum(s.spot_revenue for s in slots)),
            "preconfBids": bids,
            "accepted": accepted,
            "earlyAccepts": early,
            "earlyAcceptShare": early / bids if bids else 0.0,
            "meanPreconfPremium": _mean(premiums),
            "premiumOverSpotWeiPerSlot": str(sum(s.premium_wei for s in slots) // max(len(slots), 1)),
            "meanTimeToAcceptanceMs": _mean([float(w) for w in waits]),
            "capacityBoundRoundShare": (sum(s.bound_rounds for s in slots)
                                        / max(1, sum(s.rounds for s in slots))),
            "lateParticipation": (
                statistics.fmean(s.preconf_bids for s in slots[len(slots) // 2 :]) / cfg.bidders if slots else 0.0
            ),
        },
        "slots": [
            {
                "slot": s.slot,
                "spotPricePerGas": s.spot_price,
                "preconfBids": s.preconf_bids,
                "accepted": s.accepted,
                "early": s.early,
                "preconfRevenueWei": str(s.preconf_revenue),
                "spotRevenueWei": str(s.spot_revenue),
                "meanPremium": _mean(s.premiums),
                "premiumOverSpotWei": str(s.premium_wei),
                "meanWaitMs": _mean([float(w) for w in s.waits_ms]),
            }
            for s in slots
        ],
    }


SPREAD_FIELDS = ("providerRevenueWei", "preconfBids", "earlyAcceptShare", "premiumOverSpotWeiPerSlot",
                 "meanTimeToAcceptanceMs", "capacityBoundRoundShare", "lateParticipation")


def spread(reports: list[dict]) -> dict:
    """Mean, sample standard deviation, min and max of each summary figure over runs
    (one per seed), for reporting a figure with its spread rather than one seed's value."""
    out: dict[str, dict] = {}
    for name in SPREAD_FIELDS:
        xs = [float(r["summary"][name]) for r in reports if r["summary"][name] is not None]
        if xs:
            out[name] = {"mean": statistics.fmean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
                         "min": min(xs), "max": max(xs), "n": len(xs)}
    return out
