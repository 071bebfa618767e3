"""Shared fixtures for the evm world: a small funded genesis and order builders."""

import random

import pytest

from mevauction.eth.secp256k1 import address_of
from mevauction.eth.transactions import DYNAMIC_FEE, sign
from mevauction.intake.workloads.evm import ETHER, GWEI, build_genesis, key_for
from mevauction.worlds.evm.state import state_to_json

BASE_FEE = 10 * GWEI
CHAIN_ID = 1


@pytest.fixture(scope="session")
def genesis():
    """WETH, one token with two pools (B 12‰ out of line), 4 users, 3 searcher bots."""
    rng = random.Random(7)
    g = build_genesis(7, 1, 4, 3, rng)
    return g


def user_key(i: int) -> bytes:
    return key_for(7, "user", i)


def signed(key: bytes, to: str, *, nonce: int = 0, value: int = 0, data: bytes = b"", gas: int = 200_000,
           tip: int = GWEI, max_fee: int | None = None, tx_type: int = DYNAMIC_FEE, access_list=(),
           chain_id: int | None = CHAIN_ID) -> str:
    raw = sign(key, tx_type, chain_id=chain_id, nonce=nonce, gas_limit=gas, to=to, value=value, data=data,
               access_list=access_list, max_priority_fee=tip,
               max_fee=max_fee if max_fee is not None else 2 * BASE_FEE + tip)
    return "0x" + raw.hex()


def scenario(genesis, orders: list[dict], coinbase: str | None = None) -> dict:
    block = {"number": 1, "timestamp": 1_700_000_000, "base_fee": BASE_FEE, "gas_limit": 30_000_000}
    if coinbase:
        block["coinbase"] = coinbase
    return {"format": "mevauction.scenario/1",
            "world": {"kind": "evm", "chain_id": CHAIN_ID, "block": block, "state": state_to_json(genesis.accounts)},
            "orders": orders}


__all__ = ["BASE_FEE", "ETHER", "GWEI", "address_of", "scenario", "signed", "user_key"]
