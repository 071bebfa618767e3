"""Slots on real Uniswap V2 contracts (``scenario generate --world evm``).

The contracts are deployed on a devnet node from the real npm artifacts
(:mod:`mevauction.chain.deploy`: WETH9, ERC-20s, two Uniswap V2 venues with
Router02, the project's searcher contract): an embedded anvil started for the
occasion, or a node given by URL that already holds the deployment (nothing is
deployed there). Orders are signed against the node's head state, with gas limits
fitted by a dry run at the place each transaction is meant to go:

- user swaps through a venue's Router02 (``swapExactTokensForTokens``) with a
  slippage bound (``amountOutMin``) and a deadline, so a swap placed after an
  adverse price move reverts (``kind="swap"``, target the pair);
- backruns: ``[victim swap, searcher arb]`` bundles, several searchers per victim
  (``kind="backrun"``): the arb buys on the other venue and sells on the victim's pair;
- sandwiches: ``[front, victim swap, back]`` by a searcher's contract, sized so the
  victim's own slippage bound still holds (``kind="sandwich"``);
- blind arbitrages between the two venues where they start out of line
  (``kind="arbitrage"``);
- ERC-20 transfers (``kind="transfer"``, target the token) and ether transfers.

The scenario embeds the whole parent state (``anvil_dumpState``) and names the node
block it is (``world.parent``), so it is self-contained: ``mevauction auction`` replays
it without the node, on exactly that state, and a file keeps meaning the same after
the node is gone (a ``fork_url`` would depend on a process that no longer exists).
Conflicts come from the storage slots the real bytecode touches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from mevauction.chain.contracts import calldata
from mevauction.chain.deploy import Deployment, Layout, Party, Pool, deploy, read_deployment
from mevauction.chain.node import Anvil, AnvilConfig
from mevauction.chain.rpc import RpcClient
from mevauction.errors import InputError
from mevauction.eth.secp256k1 import address_of
from mevauction.eth.transactions import ACCESS_LIST, DYNAMIC_FEE, LEGACY, Transaction
from mevauction.intake.scenario import SCENARIO_FORMAT
from mevauction.intake.workloads.evm import GWEI, TxFactory, _order
from mevauction.worlds.evm.execution import BlockContext
from mevauction.worlds.evm.fork import world_json
from mevauction.worlds.evm.state import parse_state

ETHER = 10**18
GENESIS_TIME = 1_700_000_000
NO_COINBASE = "0x" + "00" * 20
SWAP = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"


@dataclass(frozen=True)
class Profile:
    """A workload shape. Integers (per mille, wei units) so that ``contested`` makes the
    same draws, hence the same slots, as before profiles existed.

    ``victims_per_mille``: victim swaps per order (each drawing 1..``searchers`` backruns
    or sandwiches on its pair: the conflict groups); ``popular_per_mille``: token transfers
    paid to one of three exchange deposit addresses (a commuting group per token);
    victim swaps of ``victim_units`` × ``unit`` wei of WETH (the block's value: the
    searchers' arb profits grow with the swap's size); ``hot_per_mille``: victims on the
    first token's pairs (the one busy pair of a mainnet block), the rest uniform.
    """

    victims_per_mille: int
    popular_per_mille: int
    victim_units: tuple[int, int] = (1, 40)
    unit: int = 10**18
    searchers: int | None = None  # None: the caller's searchers_per_victim
    hot_per_mille: int | None = None  # None: tokens drawn uniformly (contested's draws)


# ``contested`` is the original shape; ``mainnet`` is calibrated to seed 004 § 5.2 as the
# amm profile is (benchmarks/workload_shape.py --world evm; docs/benchmarks/issue15.md).
PROFILES = {"contested": Profile(300, 500),
            "mainnet": Profile(15, 100, victim_units=(1, 40), unit=10**17, hot_per_mille=750)}
DEFAULT_BUILDERS = [{"id": "B1", "algorithm": "mgp-ordering", "bid": "truthful"},
                    {"id": "B2", "algorithm": "mp-ordering", "bid": "truthful"}]


def layout_for(orders: int, seed: int) -> Layout:
    """Enough funded parties that every order has its own sender."""
    return Layout(seed=seed, tokens=max(2, min(6, orders // 40 + 2)), users=orders + 4, searchers=orders)


class Slot:
    """Signs the slot's orders against one parent state."""

    def __init__(self, d: Deployment, world: dict[str, Any], rng: random.Random):
        self.d, self.rng = d, rng
        b = world["block"]
        self.block = BlockContext(b["number"], b["timestamp"], b["base_fee"], b["gas_limit"], NO_COINBASE,
                                  world["chain_id"])
        self.factory = TxFactory(parse_state(world["state"]), self.block, world["chain_id"], rng)
        self.users = iter(d.users)
        self.searchers = iter(d.searchers)

    def reserves(self, pool: Pool) -> tuple[int, int]:
        """(WETH, token) reserves of a pair in the parent state (slot 8 packs reserve0, reserve1, timestamp)."""
        packed = self.factory.executor.storage(pool.address, 8)
        r0, r1 = packed & (2**112 - 1), (packed >> 112) & (2**112 - 1)
        return (r0, r1) if pool.weth_is_token0 else (r1, r0)

    def quote(self, pool: Pool, weth_in: bool, amount: int) -> int:
        rw, rt = self.reserves(pool)
        r_in, r_out = (rw, rt) if weth_in else (rt, rw)
        return amount * 997 * r_out // (r_in * 1000 + amount * 997)

    def swap(self, user: Party, pool: Pool, weth_in: bool, amount: int, slippage_bps: int,
             before: list[Transaction] = ()) -> Transaction | None:  # type: ignore[assignment]
        path = [self.d.weth, pool.token] if weth_in else [pool.token, self.d.weth]
        min_out = self.quote(pool, weth_in, amount) * (10_000 - slippage_bps) // 10_000
        data = calldata(SWAP, amount, min_out, path, user.address, self.block.timestamp + 3600)
        tx_type = self.rng.choices((DYNAMIC_FEE, LEGACY, ACCESS_LIST), (7, 2, 1))[0]
        access = ((pool.address, (8,)),) if tx_type == ACCESS_LIST else ()
        return self.factory.make(_key(user), self.d.routers[pool.venue], data, tip=self.rng.randint(1, 3) * GWEI,
                                 tx_type=tx_type, access_list=access, before=list(before))

    def runs_ok(self, txs: list[Transaction]) -> bool:
        """Whether ``txs``, in this order on the parent state, all succeed."""
        ex = self.factory.executor
        mark = ex.mark()
        ok = all(ex.execute_tx(tx, self.block.gas_limit).status == "ok" for tx in txs)
        ex.undo_to(mark)
        return ok

    def arb(self, bot: Party, buy: Pool, sell: Pool, before: list[Transaction]) -> Transaction | None:
        assert bot.contract is not None
        data = calldata("arb(address,address,uint256,address)", buy.address, sell.address,
                        self.rng.randint(50, 99) * 100, NO_COINBASE)
        return self.factory.make(_key(bot), bot.contract, data, tip=self.rng.choice((0, GWEI)), before=before)


def _key(party: Party) -> bytes:
    return bytes.fromhex(party.key[2:])


def _arb_pools(slot: Slot, pools: tuple[Pool, Pool]) -> tuple[Pool, Pool] | None:
    """(pool to buy the token on, pool to sell it on) when their prices differ by more than the fees."""
    a, b = pools
    aw, at = slot.reserves(a)
    bw, bt = slot.reserves(b)
    if at * bw * 1000 > bt * aw * 1007:  # more tokens per WETH on a: the token is cheap there
        return a, b
    if bt * aw * 1000 > at * bw * 1007:
        return b, a
    return None


def generate(orders: int = 200, seed: int = 0, *, chain_url: str | None = None, builders: list | None = None,
             searchers_per_victim: int = 3, profile: str = "contested", **_ignored: Any) -> dict[str, Any]:
    """A ``mevauction.scenario/1`` document of ``orders`` orders on real Uniswap V2 pairs."""
    if profile not in PROFILES:
        raise InputError("profile", f"must be one of {', '.join(PROFILES)}")
    shape = PROFILES[profile]
    layout = layout_for(orders, seed)
    if chain_url:
        rpc = RpcClient(chain_url)
        found = read_deployment(rpc, layout)
        if found is None:
            raise InputError("chain", f"{chain_url} holds no deployment of this layout (seed {seed}): "
                                      "deploy with mevauction.chain.deploy first")
        return _generate(rpc, found, orders, seed, builders, searchers_per_victim, shape)
    # A fixed genesis time and 12 s blocks: the same (orders, seed) gives the same file.
    with Anvil(AnvilConfig(timestamp=GENESIS_TIME)) as node:
        rpc = node.client()
        rpc.call("anvil_setBlockTimestampInterval", 12)
        return _generate(rpc, deploy(rpc, layout), orders, seed, builders, searchers_per_victim, shape)


def _generate(rpc: RpcClient, d: Deployment, orders: int, seed: int, builders: list | None,
              searchers_per_victim: int, shape: Profile = PROFILES["contested"]) -> dict[str, Any]:
    rng = random.Random(seed)
    world = world_json(rpc, prefetch="dump")
    if "state" not in world:
        raise InputError("chain", f"{rpc.url} has no anvil_dumpState: a scenario needs the state embedded")
    slot = Slot(d, world, rng)
    out: list[dict[str, Any]] = []
    n_victims = max(1, orders * shape.victims_per_mille // 1000)
    searchers = shape.searchers or searchers_per_victim
    victims = attempts = 0
    while len(out) < orders and victims < n_victims and attempts < 2 * n_victims:
        attempts += 1
        t = _victim_token(rng, len(d.tokens), shape.hot_per_mille)
        pool = d.pools[t][rng.randrange(2)]
        other = d.pools[t][1 - ("AB".index(pool.venue))]
        weth_in = rng.random() < 0.6
        amount = rng.randint(*shape.victim_units) * shape.unit
        if not weth_in:
            amount = slot.quote(pool, True, amount)  # about as much token as that much WETH buys
        slippage = rng.choice((30, 50, 100, 300))
        victim = slot.swap(next(slot.users), pool, weth_in, amount, slippage)
        if victim is None:
            continue
        vid = f"swap{victims}"
        out.append(_order(vid, "swap", pool.address, [victim]))
        victims += 1
        buy, sell = (other, pool) if weth_in else (pool, other)
        for s in range(rng.randint(1, searchers)):
            if len(out) >= orders:
                break
            if weth_in and slippage >= 100 and rng.random() < 0.4:
                sandwich = _sandwich(slot, next(slot.searchers), pool, victim, amount)
                if sandwich is not None:
                    out.append(_order(f"sandwich{victims - 1}.{s}", "sandwich", pool.address, sandwich))
                    continue
            arb = slot.arb(next(slot.searchers), buy, sell, [victim])
            if arb is not None:  # searchers only send backruns that pay after this victim
                out.append(_order(f"backrun{victims - 1}.{s}", "backrun", pool.address, [victim, arb]))
    for t, pools in enumerate(d.pools):
        direction = _arb_pools(slot, pools)
        if direction is None:
            continue
        for s in range(rng.randint(2, 3)):
            if len(out) >= orders * 9 // 10:
                break
            tx = slot.arb(next(slot.searchers), *direction, [])
            if tx is not None:
                out.append(_order(f"arb{t}.{s}", "arbitrage", direction[0].address, [tx]))
    _fill_transfers(slot, d, out, orders, seed, rng, shape.popular_per_mille)
    return {"format": SCENARIO_FORMAT, "world": world, "block_gas_limit": world["block"]["gas_limit"],
            "seed": seed, "orders": out, "builders": builders if builders is not None else DEFAULT_BUILDERS}


def _victim_token(rng: random.Random, tokens: int, hot_per_mille: int | None) -> int:
    if hot_per_mille is None:
        return rng.randrange(tokens)
    return 0 if rng.random() < hot_per_mille / 1000 else rng.randrange(1, tokens)


def _sandwich(slot: Slot, bot: Party, pool: Pool, victim: Transaction, victim_in: int) -> list[Transaction] | None:
    """[front, victim, back]: the front buys just enough that the victim's bound still holds."""
    assert bot.contract is not None
    for fraction in (50, 25, 10):
        front_in = victim_in * fraction // 100
        front = slot.factory.make(_key(bot), bot.contract,
                                  calldata("front(address,address,uint256,uint256,address)", pool.address,
                                           pool.token, front_in, 0, NO_COINBASE), tip=GWEI)
        if front is None:
            return None
        if not slot.runs_ok([front, victim]):
            continue  # the victim would revert after this front: smaller
        back = slot.factory.make(_key(bot), bot.contract,
                                 calldata("back(address,address,uint256,address)", pool.address, pool.token,
                                          slot.rng.randint(50, 90) * 100, NO_COINBASE),
                                 tip=0, before=[front, victim])
        if back is not None:
            return [front, victim, back]
    return None


def _fill_transfers(slot: Slot, d: Deployment, out: list[dict[str, Any]], orders: int, seed: int,
                    rng: random.Random, popular_per_mille: int = 500) -> None:
    popular = [address_of(Layout(seed=seed).key("exchange", i)) for i in range(3)]
    k = 0
    for user in slot.users:
        if len(out) >= orders:
            return
        payee = address_of(Layout(seed=seed).key("payee", k))
        if rng.random() < 0.8:
            t = rng.randrange(len(d.tokens))
            to = rng.choice(popular) if rng.random() < popular_per_mille / 1000 else payee
            data = calldata("transfer(address,uint256)", to, rng.randint(1, 500) * ETHER)
            tx = slot.factory.make(_key(user), d.tokens[t], data, tip=rng.randint(1, 2) * GWEI)
            if tx is not None:
                out.append(_order(f"transfer{k}", "transfer", d.tokens[t], [tx]))
        else:
            tx = slot.factory.make(_key(user), payee, value=rng.randint(1, 20) * ETHER,
                                   tip=rng.randint(1, 2) * GWEI, tx_type=rng.choice((LEGACY, DYNAMIC_FEE)))
            if tx is not None:
                out.append(_order(f"eth{k}", "eth_transfer", None, [tx]))
        k += 1
    raise InputError("orders", f"ran out of funded users after {len(out)} of {orders} orders")
