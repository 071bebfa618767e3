"""Deploy the demo's contracts on a devnet from the real artifacts, and read them back.

What goes on the node (all from the pinned npm build artifacts, never recompiled):

- canonical WETH9;
- ``tokens`` ERC-20 tokens (v2-core's test ERC20: its whole supply minted to the deployer);
- two Uniswap V2 venues, each a ``UniswapV2Factory`` with one pair per token against
  WETH and its own ``UniswapV2Router02``. The factory creates a pair only once per
  token pair, so arbitrage between two pools of the same tokens needs two venues (as
  Uniswap and SushiSwap on mainnet: the same bytecode, two factories). Venue B's
  pools start out of line with venue A's for some tokens;
- the project's searcher contract (``contracts/searcher.vy``) for every searcher.

Router02 computes pair addresses itself from a hard-coded init-code hash
(``UniswapV2Library.pairFor``). :func:`deploy` checks that hash against the v2-core pair
bytecode (they match for the pinned versions) and refuses to deploy a router that would
route to empty addresses.

Everything is deterministic in ``Layout`` (keys derived from its seed, addresses from
the deployer's nonces and CREATE2), so :func:`read_deployment` can tell what a node
holds without any record of the deployment: it only reads (``--chain URL`` nodes get
nothing deployed). :func:`deploy` is idempotent per node: when the deployment is
already there it is returned as it is.

Funding uses anvil's ``anvil_setBalance``: the embedded node is a devnet.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mevauction.chain.contracts import calldata, decode, npm, pair_init_code_hash, router_pair_hash_matches, searcher
from mevauction.chain.rpc import RpcClient, as_int, quantity
from mevauction.eth import rlp
from mevauction.eth.keccak import keccak
from mevauction.eth.secp256k1 import address_of
from mevauction.eth.transactions import DYNAMIC_FEE, sign

ETHER = 10**18
MAX_UINT = 2**256 - 1
VENUES = ("A", "B")


class DeploymentError(Exception):
    """The node holds part of a deployment, or a deployment transaction failed."""


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract ``sender`` creates with ``nonce`` (CREATE)."""
    encoded_nonce = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
    return "0x" + keccak(rlp.encode([bytes.fromhex(sender[2:]), encoded_nonce]))[12:].hex()


def create2_pair(factory: str, token_a: str, token_b: str) -> str:
    """The pair's address as UniswapV2Factory.createPair makes it (CREATE2, sorted tokens)."""
    t0, t1 = sorted((token_a, token_b))
    salt = keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:]))
    return "0x" + keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + pair_init_code_hash())[12:].hex()


@dataclass(frozen=True)
class Layout:
    """What to deploy; every key and address follows from it."""

    seed: int = 0
    tokens: int = 3
    users: int = 16
    searchers: int = 8
    weth_depth: int = 2_000 * ETHER  # WETH in each pool
    user_weth: int = 300 * ETHER
    user_tokens: int = 10**7 * ETHER
    searcher_weth: int = 500 * ETHER
    searcher_ether: int = 100 * ETHER  # the contract's ether: coinbase payments

    def key(self, role: str, index: int = 0) -> bytes:
        return keccak(f"mevauction-chain:{self.seed}:{role}:{index}".encode())


@dataclass(frozen=True)
class Pool:
    venue: str  # "A" or "B"
    address: str
    token: str
    weth_is_token0: bool


@dataclass(frozen=True)
class Party:
    """A funded externally owned account (its key is a public devnet key)."""

    key: str  # 0x hex private key
    address: str
    contract: str | None = None  # a searcher's contract


@dataclass(frozen=True)
class Deployment:
    """Addresses and keys of a deployment, as workloads and the demo use them."""

    chain_id: int
    block: int  # the block in which the deployment was complete
    deployer: Party
    weth: str
    factories: dict[str, str]
    routers: dict[str, str]
    tokens: tuple[str, ...]
    pools: tuple[tuple[Pool, Pool], ...]  # (venue A, venue B) per token
    users: tuple[Party, ...]
    searchers: tuple[Party, ...]
    layout: Layout = field(default_factory=Layout)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Deployment:
        return cls(chain_id=obj["chain_id"], block=obj["block"], deployer=Party(**obj["deployer"]),
                   weth=obj["weth"], factories=dict(obj["factories"]), routers=dict(obj["routers"]),
                   tokens=tuple(obj["tokens"]), pools=tuple((Pool(**a), Pool(**b)) for a, b in obj["pools"]),
                   users=tuple(Party(**u) for u in obj["users"]),
                   searchers=tuple(Party(**s) for s in obj["searchers"]), layout=Layout(**obj["layout"]))


def _party(key: bytes, contract: str | None = None) -> Party:
    return Party("0x" + key.hex(), address_of(key), contract)


def plan(layout: Layout, chain_id: int, block: int = 0) -> Deployment:
    """Where ``layout``'s contracts are (or will be) on a node: addresses from nonces and CREATE2."""
    deployer = _party(layout.key("deployer"))
    at = lambda nonce: create_address(deployer.address, nonce)
    weth = at(0)
    factories = {v: at(1 + i) for i, v in enumerate(VENUES)}
    routers = {v: at(1 + len(VENUES) + i) for i, v in enumerate(VENUES)}
    tokens = tuple(at(1 + 2 * len(VENUES) + t) for t in range(layout.tokens))
    pools = tuple(tuple(Pool(v, create2_pair(factories[v], weth, tok), tok, weth < tok) for v in VENUES)
                  for tok in tokens)
    users = tuple(_party(layout.key("user", i)) for i in range(layout.users))
    searchers = []
    for i in range(layout.searchers):
        key = layout.key("searcher", i)
        searchers.append(_party(key, create_address(address_of(key), 0)))
    return Deployment(chain_id, block, deployer, weth, factories, routers, tokens,
                      pools, users, tuple(searchers), layout)  # type: ignore[arg-type]


def _has_code(rpc: RpcClient, addresses: list[str]) -> list[bool]:
    codes = rpc.batch([("eth_getCode", [a, "latest"]) for a in addresses])
    return [isinstance(c, str) and len(c) > 2 for c in codes]


def read_deployment(rpc: RpcClient, layout: Layout | None = None) -> Deployment | None:
    """The deployment of ``layout`` on the node if it is there in full; None if nothing is. Only reads.

    DeploymentError when part of it is there (another layout, or an interrupted deployment).
    """
    layout = layout or Layout()
    chain_id = rpc.chain_id()
    d = plan(layout, chain_id)
    addresses = [d.weth, *d.factories.values(), *d.routers.values(), *d.tokens,
                 *(p.address for pair in d.pools for p in pair), *(s.contract for s in d.searchers if s.contract)]
    present = _has_code(rpc, addresses)
    if not any(present):
        return None
    if not all(present):
        missing = [a for a, ok in zip(addresses, present) if not ok]
        raise DeploymentError(f"the node holds part of a deployment ({len(missing)} contracts missing, "
                              f"e.g. {missing[0]}): another layout, or an interrupted deployment")
    return plan(layout, chain_id, _completion_block(rpc, d, rpc.nonce(d.deployer.address)))


def _completion_block(rpc: RpcClient, d: Deployment, deployer_nonce: int) -> int:
    """The first block at which the deployer had sent all its transactions (binary search on nonces)."""
    lo, hi = 0, rpc.block_number()
    while lo < hi:
        mid = (lo + hi) // 2
        if rpc.nonce(d.deployer.address, mid) >= deployer_nonce:
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Sender:
    """Signs transactions with per-key nonces, sends them in batches, mines until all are in."""

    def __init__(self, rpc: RpcClient, chain_id: int):
        self.rpc, self.chain_id = rpc, chain_id
        self.nonces: dict[str, int] = {}
        self.queue: list[tuple[str, str, int]] = []  # (raw hex, what, gas limit)
        base = rpc.block("latest")
        base_fee = as_int(base["baseFeePerGas"]) if base else 10**9
        # Devnet ether is free: a wide margin keeps every transaction valid while base fees rise.
        self.max_fee = 20 * base_fee + 10**9

    def send(self, key: str, to: str | None, data: bytes = b"", value: int = 0, gas: int = 200_000,
             what: str = "") -> None:
        k = bytes.fromhex(key[2:])
        addr = address_of(k)
        if addr not in self.nonces:
            self.nonces[addr] = self.rpc.nonce(addr)
        nonce = self.nonces[addr]
        self.nonces[addr] = nonce + 1
        raw = sign(k, DYNAMIC_FEE, chain_id=self.chain_id, nonce=nonce, gas_limit=gas, to=to, value=value,
                   data=data, max_priority_fee=10**9, max_fee=self.max_fee)
        self.queue.append(("0x" + raw.hex(), what or (to or "create"), gas))

    def flush(self, block_gas: int = 30_000_000) -> int:
        """Send and mine everything queued, one block's worth at a time; the number of the last block.

        Chunks of at most one block's gas (by gas limit) go in one block each: anvil
        drops what a block leaves in its pool when that is thousands of transactions.
        """
        queue, self.queue = self.queue, []
        last = self.rpc.block_number()
        while queue:
            used = count = 0
            while count < len(queue) and used + queue[count][2] <= block_gas:
                used += queue[count][2]
                count += 1
            chunk, queue = queue[:count], queue[count:]
            hashes = self.rpc.batch([("eth_sendRawTransaction", [raw]) for raw, _, _ in chunk])
            self.rpc.call("evm_mine")
            receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
            if any(r is None for r in receipts):
                raise DeploymentError(f"{sum(r is None for r in receipts)} deployment transactions were not mined")
            failed = [chunk[i][1] for i, r in enumerate(receipts) if as_int(r["status"]) != 1]
            if failed:
                raise DeploymentError(f"deployment transactions reverted: {', '.join(failed[:5])}")
            last = max(as_int(r["blockNumber"]) for r in receipts)
        return last


def deploy(rpc: RpcClient, layout: Layout | None = None) -> Deployment:
    """Deploy ``layout`` on an anvil node (or return it if it is already there)."""
    layout = layout or Layout()
    existing = read_deployment(rpc, layout)
    if existing is not None:
        return existing
    if not router_pair_hash_matches():
        raise DeploymentError("UniswapV2Router02's pair init-code hash does not match the v2-core pair bytecode")
    chain_id = rpc.chain_id()
    d = plan(layout, chain_id)
    if rpc.nonce(d.deployer.address) != 0:
        raise DeploymentError(f"deployer {d.deployer.address} has sent transactions: addresses would differ")
    funded = [(d.deployer.address, 10**9 * ETHER)]
    funded += [(u.address, 10_000 * ETHER) for u in d.users]
    funded += [(s.address, 100 * ETHER) for s in d.searchers]
    # A contract keeps the ether its address held before its creation (CREATE needs no nonce or code there).
    funded += [(s.contract, layout.searcher_ether) for s in d.searchers if s.contract]
    rpc.batch([("anvil_setBalance", [a, quantity(v)]) for a, v in funded])
    tx = _Sender(rpc, chain_id)
    key = d.deployer.key
    tx.send(key, None, npm("WETH9").initcode, gas=1_500_000, what="WETH9")
    for v in VENUES:
        tx.send(key, None, npm("UniswapV2Factory").deploy_code(d.deployer.address), gas=6_000_000,
                what=f"factory {v}")
    for v in VENUES:
        tx.send(key, None, npm("UniswapV2Router02").deploy_code(d.factories[v], d.weth), gas=7_000_000,
                what=f"router {v}")
    supply = 10**12 * ETHER
    for t in range(layout.tokens):
        tx.send(key, None, npm("ERC20").deploy_code(supply), gas=2_000_000, what=f"token {t}")
    tx.flush()
    searcher_code = searcher().deploy_code(d.weth)
    for s in d.searchers:  # a searcher's first transaction creates its contract (its nonce 0)
        tx.send(s.key, None, searcher_code, gas=3_000_000, what="searcher contract")
    for t, (token, pools) in enumerate(zip(d.tokens, d.pools)):
        price = 1000 + 700 * t  # tokens per WETH
        for pool in pools:
            tx.send(key, d.factories[pool.venue], calldata("createPair(address,address)", d.weth, token),
                    gas=4_000_000, what=f"pair {pool.venue}{t}")
            # Venue B's first pools are 1 % out of line: standing arbitrage at the start.
            skew = 10 if pool.venue == "B" and t % 2 == 0 else 0
            tx.send(key, d.weth, calldata("deposit()"), value=layout.weth_depth, gas=100_000)
            tx.send(key, d.weth, calldata("transfer(address,uint256)", pool.address, layout.weth_depth), gas=100_000)
            tx.send(key, token, calldata("transfer(address,uint256)", pool.address,
                                         layout.weth_depth * price * (1000 + skew) // 1000), gas=100_000)
            tx.send(key, pool.address, calldata("mint(address)", d.deployer.address), gas=300_000,
                    what=f"liquidity {pool.venue}{t}")
    total_weth = layout.user_weth * len(d.users) + layout.searcher_weth * len(d.searchers)
    tx.send(key, d.weth, calldata("deposit()"), value=total_weth, gas=100_000)
    for u in d.users:
        tx.send(key, d.weth, calldata("transfer(address,uint256)", u.address, layout.user_weth), gas=100_000)
        for token in d.tokens:
            tx.send(key, token, calldata("transfer(address,uint256)", u.address, layout.user_tokens), gas=100_000)
        for router in d.routers.values():
            for asset in (d.weth, *d.tokens):
                tx.send(u.key, asset, calldata("approve(address,uint256)", router, MAX_UINT), gas=100_000)
    for s in d.searchers:
        assert s.contract is not None
        tx.send(key, d.weth, calldata("transfer(address,uint256)", s.contract, layout.searcher_weth), gas=100_000)
    block = tx.flush()
    _check(rpc, d)
    return plan(layout, chain_id, block)


def _check(rpc: RpcClient, d: Deployment) -> None:
    """The deployment does what the workloads assume: pairs where computed, routers on their factories."""
    for v in VENUES:
        (factory,) = decode(["address"], bytes.fromhex(rpc.call(
            "eth_call", {"to": d.routers[v], "data": "0x" + calldata("factory()").hex()}, "latest")[2:]))
        if factory.lower() != d.factories[v]:
            raise DeploymentError(f"router {v} points at {factory}, not factory {d.factories[v]}")
    for pools in d.pools:
        for pool in pools:
            (pair,) = decode(["address"], bytes.fromhex(rpc.call(
                "eth_call", {"to": d.factories[pool.venue],
                             "data": "0x" + calldata("getPair(address,address)", d.weth, pool.token).hex()},
                "latest")[2:]))
            if pair.lower() != pool.address:
                raise DeploymentError(f"factory {pool.venue} made pair {pair}, not the computed {pool.address}")
