"""Realistic ``amm`` slots, calibrated to Boost+ paper § 5.2.

A slot is made of the things § 5.2 finds on mainnet:

- pools whose popularity follows a Zipf law (a few pairs — WETH/USDC-like, on
  several venues — carry most of the flow, a long tail is touched once or never);
- *MEV opportunities* on popular pairs: price dislocations between venues that
  several searchers compete for with their own arbitrage (Boost+ paper Example 1), and
  large user swaps (victims) that several searchers backrun or sandwich — all those
  bundles contain the victim's transaction;
- user swaps routed by popularity, with slippage limits;
- many small, mostly conflict-free ERC-20 transfers, with the odd distributor or
  exchange deposit address that makes a group of commuting transfers.

Most conflict groups are therefore singletons or tiny, and the hot pairs form a
heavy tail of large groups: in most slots of a few hundred orders one to three
groups of ≥ 8 orders (Boost+ paper Fig. 5: over half the blocks have exactly one,
most have fewer than four). docs/worlds/amm.md records the measured histogram.
Everything is drawn from one ``random.Random(seed)``: same seed, same slot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from mevauction.errors import require
from mevauction.intake.scenario import SCENARIO_FORMAT, parse_builders
from mevauction.worlds.amm.uniswap import get_amount_in, get_amount_out, optimal_cycle_input

ETH = 10**18
GWEI = 10**9
NUMERAIRE = "WETH"

# Order mix per slot (fractions of the order budget; the rest are transfers).
MEV_SHARE = 0.12
SWAP_SHARE = 0.15
# Pool popularity: Zipf–Mandelbrot weight 1 / (rank + ZIPF_OFFSET) ** exponent
# (Boost+ paper § 5.2 calibration, see docs/worlds/amm.md).
ZIPF_EXPONENT = 2.1
ZIPF_OFFSET = 1
TOKENS_PER_ORDER = 0.4
# Searchers per opportunity: usually a few, sometimes a crowd.
COMPETITORS = (1, 2, 3, 4, 5, 6, 8, 12)
COMPETITOR_WEIGHTS = (30, 25, 17, 10, 7, 5, 4, 2)
TRANSFER_BATCHES = (2, 2, 2, 3, 3, 4, 5, 6)
AIRDROP_CHANCE = 0.15  # per slot: one large distribution (a commuting group of 10–25 transfers)


@dataclass(frozen=True, slots=True)
class Profile:
    """The knobs a workload profile sets (``--profile``)."""

    zipf: float = ZIPF_EXPONENT
    mev_share: float = MEV_SHARE
    swap_share: float = SWAP_SHARE
    victim_fraction: tuple[float, float] = (-2.3, -1.3)  # log10 of a victim's share of the pool
    competitor_weights: tuple[float, ...] = COMPETITOR_WEIGHTS  # searchers per opportunity (COMPETITORS)
    # Chance per victim event of a whale swap (log10 share ``whale_fraction``): the rare
    # high-MEV block of § 5.2 ("blocks worth > 1 ETH"). 0 draws nothing (contested unchanged).
    whale_chance: float = 0.0
    whale_fraction: tuple[float, float] = (-1.6, -1.0)


# ``contested``: one very large contested group per block (the older workload, kept for
# comparison). ``mainnet``: calibrated to seed 004 § 5.2 (docs/benchmarks.md prints the
# measured shape next to the targets): flow spread over more pairs, fewer and smaller
# MEV opportunities, most blocks' largest group small.
PROFILES = {
    "contested": Profile(),
    "mainnet": Profile(zipf=1.0, mev_share=0.03, swap_share=0.06, victim_fraction=(-3.4, -2.5),
                       competitor_weights=(35, 30, 20, 10, 5, 0, 0, 0), whale_chance=0.1),
}


@dataclass(slots=True)
class GenPool:
    id: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int

    def reserves_for(self, token_in: str) -> tuple[int, int]:
        return (self.reserve0, self.reserve1) if token_in == self.token0 else (self.reserve1, self.reserve0)

    def other(self, token: str) -> str:
        return self.token1 if token == self.token0 else self.token0


@dataclass(slots=True)
class Market:
    """Tokens (by popularity rank), their WETH venues and cross pools."""

    pools: list[GenPool] = field(default_factory=list)
    venues: dict[str, list[GenPool]] = field(default_factory=dict)  # token → WETH pools
    cross: dict[str, list[GenPool]] = field(default_factory=dict)  # token → non-WETH pools
    tokens: list[str] = field(default_factory=list)


class SlotGenerator:
    """Draws one slot; every helper consumes the single seeded ``rng``."""

    def __init__(self, orders: int, seed: int, zipf: float, profile: Profile | None = None):
        self.profile = profile or Profile(zipf=zipf)
        self.budget = orders
        self.rng = random.Random(seed)
        self.zipf = zipf
        self.market = self._market()
        self.balances: dict[str, dict[str, int]] = {}
        self.orders: list[dict[str, Any]] = []
        self.pool_weights = [1 / (rank + ZIPF_OFFSET) ** zipf for rank in range(len(self.market.pools))]
        self.token_weights = [1 / (rank + ZIPF_OFFSET) ** zipf for rank in range(len(self.market.tokens))]

    # --- identities ---------------------------------------------------------------

    def address(self) -> str:
        return f"0x{self.rng.getrandbits(160):040x}"

    def tx_hash(self) -> str:
        return f"0x{self.rng.getrandbits(256):064x}"

    def fund(self, token: str, owner: str, amount: int) -> None:
        owners = self.balances.setdefault(token, {})
        owners[owner] = owners.get(owner, 0) + amount

    def tip(self, gas: int) -> int:
        """A priority fee of 0.05–3 gwei per gas, log-uniform."""
        return gas * int(GWEI * 10 ** self.rng.uniform(-1.3, 0.5))

    # --- the market ---------------------------------------------------------------

    def _market(self) -> Market:
        rng, market = self.rng, Market()
        n_tokens = max(4, int(self.budget * TOKENS_PER_ORDER))
        for rank in range(n_tokens):
            token = f"T{rank:03d}"
            market.tokens.append(token)
            price = 10 ** rng.uniform(-5, 0)  # WETH per token
            depth = 10 ** rng.uniform(3.0, 4.2) if rank < 3 else 10 ** rng.uniform(1.0, 3.3)
            n_venues = 3 if rank == 0 else 2 if rank < max(3, n_tokens // 8) else 1
            market.venues[token] = []
            for venue in range(n_venues):
                # Venues of one pair disagree a little; every other pair by up to 2.5%.
                skew = rng.uniform(-0.025, 0.025) if venue and rng.random() < 0.7 else rng.uniform(-0.002, 0.002)
                weth = int(depth * rng.uniform(0.3, 1.0) * ETH)
                pool = _pool(market, f"{token.lower()}-{venue}", NUMERAIRE, token, weth,
                             int(weth / (price * (1 + skew))))
                market.venues[token].append(pool)
        # A few cross pairs among popular tokens make three-pool cycles possible.
        top = market.tokens[:4]
        for a, b in ((top[0], top[1]), (top[2], top[3])):
            pa, pb = market.venues[a][0], market.venues[b][0]
            value = 10 ** rng.uniform(1.0, 2.5)  # pool depth in WETH
            skew = rng.uniform(-0.02, 0.02)
            pool = _pool(market, f"{a.lower()}-{b.lower()}", a, b, int(value * pa.reserve1 / pa.reserve0 * ETH),
                         int(value * pb.reserve1 / pb.reserve0 * (1 + skew) * ETH))
            market.cross.setdefault(a, []).append(pool)
            market.cross.setdefault(b, []).append(pool)
        # Popularity rank: a token's venues at its rank, cross pools after their tokens.
        market.pools.sort(key=_popularity_rank)
        return market

    def popular_pool(self) -> GenPool:
        return self.rng.choices(self.market.pools, self.pool_weights)[0]

    def popular_token(self, multi_venue: bool = False) -> str:
        tokens, weights = self.market.tokens, self.token_weights
        if multi_venue:
            keep = [i for i, t in enumerate(tokens) if len(self.market.venues[t]) > 1]
            tokens, weights = [tokens[i] for i in keep], [weights[i] for i in keep]
        return self.rng.choices(tokens, weights)[0]

    # --- orders -------------------------------------------------------------------

    def user_swap(self, pool: GenPool, token_in: str, fraction: float, slippage_bps: int) -> dict[str, Any]:
        """A router swap quoted at the parent state with a slippage limit."""
        rng = self.rng
        reserve_in, reserve_out = pool.reserves_for(token_in)
        amount_in = max(1000, int(reserve_in * fraction))
        quote = get_amount_out(amount_in, reserve_in, reserve_out)
        sender, gas = self.address(), rng.randint(110_000, 160_000)
        obj: dict[str, Any] = {"id": None, "kind": "swap", "gas": gas, "txs": [self.tx_hash()],
                               "sender": sender, "pool": pool.id, "token_in": token_in}
        if rng.random() < 0.8 or quote < 100:
            obj |= {"amount_in": amount_in, "min_out": quote * (10_000 - slippage_bps) // 10_000}
            self.fund(token_in, sender, amount_in)
        else:  # exact output: getAmountIn, with the slippage limit on the input side
            amount_out = quote * 99 // 100
            max_in = get_amount_in(amount_out, reserve_in, reserve_out) * (10_000 + slippage_bps) // 10_000
            obj |= {"amount_out": amount_out, "max_in": max_in}
            self.fund(token_in, sender, max_in)
        obj["tip"] = self.tip(gas)
        self.orders.append(obj)
        return obj

    def arbitrage(self, path: list[GenPool], kind: str = "arbitrage",
                  victim: dict[str, Any] | None = None) -> dict[str, Any]:
        """The Boost+ paper Example 1: a searcher's cycle paying 50–99% of its profit."""
        rng = self.rng
        gas = rng.randint(150_000, 200_000) + (60_000 if len(path) == 3 else 0)
        obj: dict[str, Any] = {"id": None, "kind": kind, "gas": gas, "txs": [self.tx_hash()],
                               "searcher": self.address(), "path": [p.id for p in path],
                               "share_bps": rng.randint(50, 99) * 100}
        if victim is not None:
            obj |= {"gas": gas + victim["gas"], "txs": [victim["txs"][0], *obj["txs"]], "victim": victim}
        self.orders.append(obj)
        return obj

    def sandwich(self, victim: dict[str, Any]) -> dict[str, Any]:
        """Front-run as much as the victim's ``min_out`` tolerates (searchers vary the size)."""
        rng = self.rng
        pool = next(p for p in self.market.pools if p.id == victim["pool"])
        amount = max(1000, _max_front_run(pool, victim) * rng.randint(50, 98) // 100)
        attacker, gas = self.address(), rng.randint(190_000, 240_000) + victim["gas"]
        self.fund(NUMERAIRE, attacker, amount)
        obj = {"id": None, "kind": "sandwich", "gas": gas, "txs": [self.tx_hash(), victim["txs"][0], self.tx_hash()],
               "victim": victim, "searcher": attacker, "amount_in": amount, "share_bps": rng.randint(50, 99) * 100}
        self.orders.append(obj)
        return obj

    def transfer(self, token: str, sender: str, recipient: str, amount: int) -> None:
        gas = self.rng.randint(45_000, 65_000)
        self.orders.append({"id": None, "kind": "transfer", "gas": gas, "txs": [self.tx_hash()], "token": token,
                            "from": sender, "to": recipient, "amount": amount, "tip": self.tip(gas)})

    # --- events -------------------------------------------------------------------

    def victim_event(self, room: int) -> None:
        """A large swap on a popular pair, backrun and sandwiched by competing searchers."""
        rng, market = self.rng, self.market
        token = self.popular_token()
        venues = market.venues[token]
        pool = venues[0] if len(venues) == 1 or rng.random() < 0.6 else rng.choice(venues[1:])
        low, high = self.profile.victim_fraction
        if self.profile.whale_chance and rng.random() < self.profile.whale_chance:
            low, high = self.profile.whale_fraction
        victim = self.user_swap(pool, NUMERAIRE, 10 ** rng.uniform(low, high), rng.choice((50, 100, 200, 300)))
        routes = [[other, pool] for other in venues if other is not pool]
        if rng.random() < 0.25:
            for cross in market.cross.get(token, []):
                routes.append([market.venues[cross.other(token)][0], cross, pool])
        competitors = min(room - 1, _competitors(rng, self.profile.competitor_weights))
        for _ in range(max(1, competitors)):
            if routes and rng.random() < 0.55:
                self.arbitrage(rng.choice(routes), "backrun", victim)
            else:
                self.sandwich(victim)

    def arbitrage_event(self, room: int) -> None:
        """A dislocation between venues that several searchers compete for."""
        rng, market = self.rng, self.market
        token = self.popular_token(multi_venue=True)
        venues = market.venues[token]
        a, b = rng.sample(venues, 2)
        routes = [[a, b], [b, a]]
        if rng.random() < 0.25:
            for cross in market.cross.get(token, []):
                routes.append([market.venues[cross.other(token)][0], cross, a])
        # Searchers simulate at the top of the block: most take a route that pays there,
        # the rest bet on a route that the slot's swaps may open.
        live = [r for r in routes if optimal_cycle_input(_hops(r)) > 0]
        for _ in range(max(1, min(room, _competitors(rng, self.profile.competitor_weights)))):
            self.arbitrage(rng.choice(live if live and rng.random() < 0.8 else routes))

    def transfers(self, count: int) -> None:
        """Mostly independent transfers; some distributors and shared deposit addresses."""
        rng = self.rng
        made = 0
        airdrop = rng.randint(10, 25) if rng.random() < AIRDROP_CHANCE else 0
        while made < count:
            token = NUMERAIRE if rng.random() < 0.3 else self.popular_token()
            amount = int(10 ** rng.uniform(15, 21))
            batch = min(count - made, airdrop or rng.choice(TRANSFER_BATCHES))
            shape = 0.0 if airdrop else rng.random()
            airdrop = 0
            if shape < 0.08 and batch > 1:  # one sender, many recipients (airdrop, payroll)
                sender = self.address()
                self.fund(token, sender, amount * batch)
                for _ in range(batch):
                    self.transfer(token, sender, self.address(), amount)
            elif shape < 0.12 and batch > 1:  # many senders, one deposit address
                deposit = self.address()
                for _ in range(batch):
                    sender = self.address()
                    self.fund(token, sender, amount)
                    self.transfer(token, sender, deposit, amount)
            else:
                batch = 1
                sender = self.address()
                self.fund(token, sender, amount * rng.randint(1, 3))
                self.transfer(token, sender, self.address(), amount)
            made += batch

    def slot(self) -> list[dict[str, Any]]:
        rng = self.rng
        mev_budget = round(self.budget * self.profile.mev_share)
        swap_budget = round(self.budget * self.profile.swap_share)
        while len(self.orders) < mev_budget:
            room = mev_budget - len(self.orders)
            if room >= 2 and rng.random() < 0.55:
                self.victim_event(room)
            else:
                self.arbitrage_event(room)
        for _ in range(min(swap_budget, self.budget - len(self.orders))):
            pool = self.popular_pool()
            self.user_swap(pool, rng.choice((pool.token0, pool.token1)), 10 ** rng.uniform(-4.5, -2.0),
                           rng.choice((30, 50, 100, 300, 500)))
        self.transfers(self.budget - len(self.orders))
        return self.orders


def _pool(market: Market, pid: str, token0: str, token1: str, reserve0: int, reserve1: int) -> GenPool:
    pool = GenPool(pid, token0, token1, max(reserve0, 10**9), max(reserve1, 10**9))
    market.pools.append(pool)
    return pool


def _hops(path: list[GenPool]) -> list[tuple[int, int]]:
    """(reserve_in, reserve_out) along a cycle from the numeraire, at the parent state."""
    hops, token = [], NUMERAIRE
    for pool in path:
        hops.append(pool.reserves_for(token))
        token = pool.other(token)
    return hops


def _popularity_rank(pool: GenPool) -> tuple[int, int, str]:
    ranks = [int(t[1:]) for t in (pool.token0, pool.token1) if t != NUMERAIRE]
    return max(ranks), int(pool.token0 != NUMERAIRE), pool.id


def _competitors(rng: random.Random, weights: tuple[float, ...]) -> int:
    """How many searchers go for one opportunity: usually a few, sometimes a crowd."""
    return rng.choices(COMPETITORS, weights)[0]


def _max_front_run(pool: GenPool, victim: dict[str, Any]) -> int:
    """Largest front-run (same direction, at the parent state) the victim's limit tolerates."""
    reserve_in, reserve_out = pool.reserves_for(victim["token_in"])
    amount = victim.get("amount_in")
    if amount is None:
        return 0
    lo, hi = 0, reserve_in
    while lo < hi:
        mid = (lo + hi + 1) // 2
        bought = get_amount_out(mid, reserve_in, reserve_out)
        if get_amount_out(amount, reserve_in + mid, reserve_out - bought) >= victim["min_out"]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def generate(orders: int, seed: int, *, builders: list[dict[str, Any]] | None = None,
             zipf: float | None = None, profile: str = "contested") -> dict[str, Any]:
    """A ``mevauction.scenario/1`` document for one realistic slot of ``orders`` orders.

    ``profile`` picks the workload shape (:data:`PROFILES`); ``zipf`` overrides its
    pool-popularity exponent."""
    require(profile in PROFILES, "profile", f"must be one of {', '.join(PROFILES)}")
    chosen = PROFILES[profile]
    if zipf is None:
        zipf = chosen.zipf
    require(isinstance(orders, int) and not isinstance(orders, bool) and orders >= 1, "orders",
            "must be a positive integer")
    require(isinstance(seed, int) and not isinstance(seed, bool), "seed", "must be an integer")
    require(isinstance(zipf, (int, float)) and zipf > 0, "zipf", "must be a positive number")
    if builders is not None:
        parse_builders(builders)
    gen = SlotGenerator(orders, seed, float(zipf), replace(chosen, zipf=float(zipf)))
    objs = gen.slot()
    gen.rng.shuffle(objs)
    width = len(str(len(objs)))
    for index, obj in enumerate(objs):
        obj["id"] = f"o{index:0{width}d}"
    for obj in objs:
        if isinstance(obj.get("victim"), dict):
            obj["victim"] = obj["victim"]["id"]
    pools = sorted(gen.market.pools, key=lambda p: p.id)
    total_gas = sum(o["gas"] for o in objs)
    return {
        "format": SCENARIO_FORMAT,
        "seed": seed,
        # A large generated slot may not fit mainnet's 30M gas; the limit grows with it.
        "block_gas_limit": max(30_000_000, total_gas),
        "world": {
            "kind": "amm",
            "numeraire": NUMERAIRE,
            "pools": [{"id": p.id, "token0": p.token0, "token1": p.token1,
                       "reserve0": p.reserve0, "reserve1": p.reserve1} for p in pools],
            "balances": {t: dict(sorted(owners.items())) for t, owners in sorted(gen.balances.items())},
        },
        "orders": objs,
        "builders": list(builders or []),
    }
