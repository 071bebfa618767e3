"""Shared by the chain tests: dev keys of anvil's default mnemonic and signed transfers."""

from __future__ import annotations

from mevauction.eth.transactions import sign

# anvil's default mnemonic accounts 0..3 (public devnet keys)
DEV_KEYS = [bytes.fromhex(k) for k in (
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
)]


def transfer(key: bytes, nonce: int, to: str, tip: int = 10**9, value: int = 10**15, gas: int = 30_000,
             chain_id: int = 31337) -> str:
    """A signed EIP-1559 value transfer paying ``tip`` per gas to the coinbase."""
    return "0x" + sign(key, 2, chain_id=chain_id, nonce=nonce, gas_limit=gas, to=to, value=value,
                       max_priority_fee=tip, max_fee=10**11).hex()
