"""Small hand-made amm scenarios shared by the amm tests."""

from __future__ import annotations

import copy

ETH = 10**18
ALICE, BOB, SEARCHER, ATTACKER = "0xa11ce", "0xb0b", "0x5ea", "0xbad"


def two_venues() -> dict:
    """WETH/USDC on two venues that disagree by ~2%, plus an unrelated pool.

    ``p0``: 100 WETH / 200,000 USDC (2,000 USDC per WETH); ``p1``: 100 WETH /
    204,000 USDC (2,040). Buying WETH on p0 and selling it on p1 … the cycle
    WETH →(p1) USDC →(p0) WETH is profitable at the parent state.
    """
    return copy.deepcopy({
        "format": "mevauction.scenario/1",
        "world": {
            "kind": "amm",
            "pools": [
                {"id": "p0", "token0": "WETH", "token1": "USDC", "reserve0": 100 * ETH, "reserve1": 200_000 * ETH},
                {"id": "p1", "token0": "WETH", "token1": "USDC", "reserve0": 100 * ETH, "reserve1": 204_000 * ETH},
                {"id": "p2", "token0": "WETH", "token1": "DAI", "reserve0": 50 * ETH, "reserve1": 100_000 * ETH},
            ],
            "balances": {"WETH": {ALICE: 10 * ETH, ATTACKER: 20 * ETH, BOB: 1 * ETH},
                         "USDC": {BOB: 50_000 * ETH}},
        },
        "orders": [
            # Alice buys USDC with 5 WETH on p0, accepting at least 9,000 USDC.
            {"id": "victim", "kind": "swap", "txs": ["0xv1"], "sender": ALICE, "pool": "p0",
             "token_in": "WETH", "amount_in": 5 * ETH, "min_out": 9_000 * ETH, "tip": 10**15},
            {"id": "arb", "kind": "arbitrage", "searcher": SEARCHER, "path": ["p1", "p0"], "share_bps": 8000},
            {"id": "back", "kind": "backrun", "txs": ["0xv1", "0xb1"], "victim": "victim", "searcher": SEARCHER,
             "path": ["p1", "p0"], "share_bps": 9000},
            {"id": "sand", "kind": "sandwich", "txs": ["0xf1", "0xv1", "0xf2"], "victim": "victim",
             "searcher": ATTACKER, "amount_in": 2 * ETH, "share_bps": 7000},
            {"id": "dai", "kind": "swap", "sender": BOB, "pool": "p2", "token_in": "WETH",
             "amount_in": ETH // 2, "min_out": 0, "tip": 2 * 10**15},
            {"id": "pay", "kind": "transfer", "token": "USDC", "from": BOB, "to": "0xcafe",
             "amount": 1_000 * ETH, "tip": 10**14},
        ],
    })
