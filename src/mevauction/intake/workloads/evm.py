"""Slots of signed transactions from funded keys (``scenario generate --world evm``).

Genesis: WETH, ``tokens`` ERC-20 tokens, a router and two constant-product pools
per token (WETH/token, "A" and "B"), deployed and funded by calls on a scratch EVM
whose touched state is then harvested into the slot's JSON parent state.

Orders, drawn from ``random.Random(seed)``:

- user swaps through the router on a pool (``kind="swap"``, target the pair) with
  a slippage bound, so a swap placed after a price move may revert;
- ERC-20 transfers, often to a few popular recipients (``kind="transfer"``, target
  the token: the commutative special case applies to them);
- plain ether transfers (``kind="eth_transfer"``);
- searchers' backruns: bundles ``[victim swap, arb]`` where several searchers
  share one victim, so at most one of them can land (``kind="backrun"``);
- searchers' blind arbitrages between a token's two pools when they start out of
  line (``kind="arbitrage"``), several competing per pool pair.

Every searcher bundle pays a share of its realised WETH profit to
``block.coinbase`` (Boost+ paper, Example 1), which makes its bid state-dependent.
Keys are derived from the seed, so the same (orders, seed) gives the same file.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from mevauction.eth.keccak import keccak
from mevauction.eth.secp256k1 import address_of
from mevauction.eth.transactions import ACCESS_LIST, DYNAMIC_FEE, LEGACY, AccessList, Transaction, decode, sign
from mevauction.intake.scenario import SCENARIO_FORMAT
from mevauction.worlds.evm.contracts import artifact, calldata
from mevauction.worlds.evm.execution import BlockContext, Executor, new_evm
from mevauction.worlds.evm.state import AccountState, account_info, harvest, load_into, state_to_json

ETHER = 10**18
GWEI = 10**9
MAX_UINT = 2**256 - 1
GENESIS_COINBASE = "0x" + "00" * 19 + "c0"


@dataclass
class Genesis:
    weth: str
    router: str
    tokens: list[str]
    pools: list[tuple[str, str]]  # (pool A, pool B) per token
    users: list[bytes]
    bots: list[tuple[bytes, str]]  # (key, searcher contract)
    accounts: dict = field(default_factory=dict)


def key_for(seed: int, role: str, index: int) -> bytes:
    return keccak(f"mevauction-evm:{seed}:{role}:{index}".encode())


def build_genesis(seed: int, tokens: int, users: int, bots: int, rng: random.Random) -> Genesis:
    """Deploy and fund the workload contracts; return their addresses and the state."""
    block = BlockContext(0, 1_700_000_000 - 12, 0, 30_000_000, GENESIS_COINBASE)
    evm = new_evm(block)
    deployer = address_of(key_for(seed, "deployer", 0))
    evm.insert_account_info(deployer, account_info(10**12 * ETHER))
    weth = evm.deploy(deployer, artifact("weth").deploy_code()).lower()
    router = evm.deploy(deployer, artifact("router").deploy_code()).lower()
    token_addrs, pools = [], []
    for t in range(tokens):
        token = evm.deploy(deployer, artifact("token").deploy_code(f"TK{t}")).lower()
        price = rng.randint(500, 5000)  # tokens per WETH
        pair_of = []
        for skew in (0, rng.choice((0, 0, 7, -7, 12, -12))):  # pool B sometimes out of line (‰)
            pair = evm.deploy(deployer, artifact("pair").deploy_code(*sorted((weth, token)))).lower()
            depth = rng.randint(300, 3000) * ETHER
            evm.message_call(deployer, weth, calldata("deposit()"), value=depth)
            evm.message_call(deployer, weth, calldata("transfer(address,uint256)", pair, depth))
            evm.message_call(deployer, token, calldata("mint(address,uint256)", pair,
                                                       depth * price * (1000 + skew) // 1000))
            evm.message_call(deployer, pair, calldata("sync()"))
            pair_of.append(pair)
        token_addrs.append(token)
        pools.append((pair_of[0], pair_of[1]))
    user_keys = [key_for(seed, "user", i) for i in range(users)]
    for key in user_keys:
        user = address_of(key)
        evm.insert_account_info(user, account_info(1000 * ETHER))
        evm.message_call(user, weth, calldata("deposit()"), value=200 * ETHER)
        evm.message_call(user, weth, calldata("approve(address,uint256)", router, MAX_UINT))
        for token in token_addrs:
            evm.message_call(deployer, token, calldata("mint(address,uint256)", user, 10**6 * ETHER))
            evm.message_call(user, token, calldata("approve(address,uint256)", router, MAX_UINT))
    bot_list = []
    for i in range(bots):
        key = key_for(seed, "searcher", i)
        bot = address_of(key)
        evm.insert_account_info(bot, account_info(100 * ETHER))
        contract = evm.deploy(bot, artifact("searcher").deploy_code(weth)).lower()
        evm.message_call(deployer, weth, calldata("deposit()"), value=500 * ETHER)
        evm.message_call(deployer, weth, calldata("transfer(address,uint256)", contract, 500 * ETHER))
        evm.message_call(bot, contract, b"", value=50 * ETHER)
        bot_list.append((key, contract))
    accounts = harvest(evm)
    accounts.pop(GENESIS_COINBASE, None)
    return Genesis(weth, router, token_addrs, pools, user_keys, bot_list, accounts)


class TxFactory:
    """Signs transactions with gas limits fitted by a dry run on the parent state."""

    def __init__(self, accounts: dict[str, AccountState], block: BlockContext, chain_id: int, rng: random.Random):
        self.block, self.chain_id, self.rng = block, chain_id, rng
        evm = new_evm(block)
        load_into(evm, accounts)
        self.executor = Executor(evm, block)

    def _dry_run(self, sender: str, to: str, data: bytes, value: int,
                 before: list[Transaction]) -> tuple[int, int, str]:
        """(gas used, nonce, status) of the call placed after ``before`` on the parent state."""
        ex = self.executor
        mark = ex.mark()
        for tx in before:
            ex.execute_tx(tx, self.block.gas_limit)
        nonce = ex.nonce(sender)
        probe = Transaction(DYNAMIC_FEE, self.chain_id, nonce, 2_000_000, to, value, data, (),
                            0, self.block.base_fee, sender, "0x" + "00" * 32, b"")
        result = ex.execute_tx(probe, self.block.gas_limit)
        ex.undo_to(mark)
        return max(result.gas_used, 21_000), nonce, result.status

    def make(self, key: bytes, to: str, data: bytes = b"", value: int = 0, *, tip: int,
             tx_type: int = DYNAMIC_FEE, access_list: AccessList = (),
             before: Sequence[Transaction] = ()) -> Transaction | None:
        """A signed transaction, or None when its dry run at the intended place does not succeed."""
        sender = address_of(key)
        gas, nonce, status = self._dry_run(sender, to, data, value, list(before))
        if status != "ok":
            return None
        gas = gas * 13 // 10 + 2400 * len(access_list) + 1900 * sum(len(k) for _, k in access_list)
        max_fee = 2 * self.block.base_fee + tip
        if tx_type != DYNAMIC_FEE:
            max_fee = self.block.base_fee + tip  # legacy/2930 pay gas_price, all above base fee is tip
        raw = sign(key, tx_type, chain_id=self.chain_id, nonce=nonce, gas_limit=gas, to=to, value=value,
                   data=data, access_list=access_list, max_priority_fee=tip, max_fee=max_fee)
        return decode(raw)


def _order(oid: str, kind: str, target: str | None, txs: list[Transaction], reverting=()) -> dict:
    out = {"id": oid, "kind": kind, "raw_txs": ["0x" + tx.raw.hex() for tx in txs],
           "txs": [tx.hash for tx in txs]}
    if target:
        out["target"] = target
    if reverting:
        out["revertingTxHashes"] = list(reverting)
    return out


def generate(orders: int = 200, seed: int = 0, *, tokens: int | None = None, searchers_per_victim: int = 3,
             base_fee: int = 10 * GWEI, chain_id: int = 1, **_ignored) -> dict:
    """A ``mevauction.scenario/1`` document with ``orders`` evm orders."""
    rng = random.Random(seed)
    tokens = tokens or max(2, orders // 6)
    n_arb_pools = tokens  # upper bound: pool pairs that start out of line
    n_victims = max(1, orders * 3 // 10)
    n_bots = orders  # one bot (EOA + contract) per searcher order at most
    genesis = build_genesis(seed, tokens, 2 * orders, n_bots, rng)
    block = BlockContext(1, 1_700_000_000, base_fee, 30_000_000, GENESIS_COINBASE, chain_id)
    factory = TxFactory(genesis.accounts, block, chain_id, rng)
    out: list[dict] = []
    users = iter(genesis.users)
    bots = iter(genesis.bots)
    popular = [address_of(key_for(seed, "exchange", i)) for i in range(3)]

    def swap_tx(key: bytes, token_index: int, pool: str, buy: bool) -> Transaction | None:
        token = genesis.tokens[token_index]
        amount = rng.randint(1, 40) * ETHER
        token_in = genesis.weth if buy else token
        if not buy:
            amount *= 1000
        quote = _quote(factory, pool, token_in, amount, genesis)
        min_out = quote * (1000 - rng.choice((5, 10, 30, 50))) // 1000
        data = calldata("swap(address,address,uint256,uint256,address)", pool, token_in, amount, min_out,
                        address_of(key))
        tx_type = rng.choices((DYNAMIC_FEE, LEGACY, ACCESS_LIST), (7, 2, 1))[0]
        access = ((pool, (2, 3)),) if tx_type == ACCESS_LIST else ()
        return factory.make(key, genesis.router, data, tip=rng.randint(1, 3) * GWEI, tx_type=tx_type,
                            access_list=access)

    def arb_tx(pair_buy: str, pair_sell: str, before: list[Transaction]) -> Transaction | None:
        key, contract = next(bots)
        data = calldata("arb(address,address,uint256,address)", pair_buy, pair_sell,
                        rng.randint(50, 99) * 100, "0x" + "00" * 20)
        return factory.make(key, contract, data, tip=rng.choice((0, GWEI)), before=before)

    # Victims and their competing backrunners.
    victims = attempts = 0
    while len(out) < orders and victims < n_victims and attempts < 2 * n_victims:
        attempts += 1
        t = rng.randrange(tokens)
        pool_a, pool_b = genesis.pools[t]
        buy = rng.random() < 0.6
        victim = swap_tx(next(users), t, pool_a, buy)
        if victim is None:
            continue
        vid = f"swap{victims}"
        out.append(_order(vid, "swap", pool_a, [victim]))
        victims += 1
        buy_pool, sell_pool = (pool_b, pool_a) if buy else (pool_a, pool_b)
        for s in range(rng.randint(1, searchers_per_victim)):
            arb = arb_tx(buy_pool, sell_pool, [victim]) if len(out) < orders else None
            if arb is not None:  # searchers only send backruns that pay after this victim
                out.append(_order(f"backrun{victims - 1}.{s}", "backrun", pool_a, [victim, arb]))
    # Standalone arbitrages where a token's pools start out of line.
    for t in range(min(tokens, n_arb_pools)):
        pool_a, pool_b = genesis.pools[t]
        direction = _arb_direction(factory, genesis, pool_a, pool_b)
        if direction is None:
            continue
        for s in range(rng.randint(2, 3)):
            if len(out) >= orders * 9 // 10:
                break
            tx = arb_tx(*direction, [])
            if tx is not None:
                out.append(_order(f"arb{t}.{s}", "arbitrage", direction[0], [tx]))
    # Transfers fill the rest.
    k = 0
    while len(out) < orders:
        key = next(users)
        if rng.random() < 0.8:
            t = rng.randrange(tokens)
            to = rng.choice(popular) if rng.random() < 0.5 else address_of(key_for(seed, "payee", k))
            data = calldata("transfer(address,uint256)", to, rng.randint(1, 500) * ETHER)
            tx = factory.make(key, genesis.tokens[t], data, tip=rng.randint(1, 2) * GWEI)
            if tx is not None:
                out.append(_order(f"transfer{k}", "transfer", genesis.tokens[t], [tx]))
        else:
            tx = factory.make(key, address_of(key_for(seed, "payee", k)), value=rng.randint(1, 20) * ETHER,
                              tip=rng.randint(1, 2) * GWEI, tx_type=rng.choice((LEGACY, DYNAMIC_FEE)))
            if tx is not None:
                out.append(_order(f"eth{k}", "eth_transfer", None, [tx]))
        k += 1
    world = {"kind": "evm", "chain_id": chain_id,
             "block": {"number": block.number, "timestamp": block.timestamp, "base_fee": base_fee,
                       "gas_limit": block.gas_limit},
             "state": state_to_json(genesis.accounts)}
    return {
        "format": SCENARIO_FORMAT,
        "world": world,
        "block_gas_limit": block.gas_limit,
        "seed": seed,
        "orders": out,
        "builders": [
            {"id": "B1", "algorithm": "mgp-ordering", "bid": "truthful"},
            {"id": "B2", "algorithm": "mp-ordering", "bid": "truthful"},
            {"id": "B3", "algorithm": "parallel", "bid": "truthful"},
        ],
    }


def _reserves(factory: TxFactory, pair: str, weth: str) -> tuple[int, int]:
    """(WETH reserve, token reserve) of ``pair`` in the parent state."""
    ex = factory.executor  # reads that leave the parent state cold
    r0, r1 = ex.storage(pair, 2), ex.storage(pair, 3)
    weth_is_0 = ex.storage(pair, 0) == int(weth, 16)
    return (r0, r1) if weth_is_0 else (r1, r0)


def _quote(factory: TxFactory, pair: str, token_in: str, amount: int, genesis: Genesis) -> int:
    rw, rt = _reserves(factory, pair, genesis.weth)
    r_in, r_out = (rw, rt) if token_in == genesis.weth else (rt, rw)
    return amount * 997 * r_out // (r_in * 1000 + amount * 997)


def _arb_direction(factory: TxFactory, genesis: Genesis, pool_a: str, pool_b: str) -> tuple[str, str] | None:
    """(pool to buy the token on, pool to sell it on) when their prices differ by more than the fees."""
    aw, at = _reserves(factory, pool_a, genesis.weth)
    bw, bt = _reserves(factory, pool_b, genesis.weth)
    # tokens per WETH: higher means the token is cheaper there
    if at * bw * 1000 > bt * aw * 1007:
        return pool_a, pool_b
    if bt * aw * 1000 > at * bw * 1007:
        return pool_b, pool_a
    return None
