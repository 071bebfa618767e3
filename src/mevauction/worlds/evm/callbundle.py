"""``eth_callBundle``: simulate a bundle on a state, answered in Flashbots' shape.

The transactions run one after the other on the parent state (each sees the ones
before it), as Flashbots' ``eth_callBundle`` does: a reverting transaction is reported
with its ``error`` and ``revert`` reason and the simulation goes on; an invalid one
(bad nonce, fee cap below the base fee, no funds) fails the whole call, naming it.

Per transaction: ``txHash``, ``fromAddress``, ``toAddress``, ``gasUsed``, ``gasPrice``
(the effective priority fee per gas, what the fee recipient gets), ``gasFees`` (gas
used × that), ``coinbaseDiff`` (the fee recipient's balance change),
``ethSentToCoinbase`` (coinbaseDiff − gasFees: direct payments), ``value`` (return
data) or ``error``/``revert``. Totals: ``coinbaseDiff``, ``ethSentToCoinbase``,
``gasFees``, ``totalGasUsed``, ``bundleGasPrice`` (coinbaseDiff / totalGasUsed),
``bundleHash``, ``stateBlockNumber``. Wei amounts are decimal strings, gas amounts
numbers, as Flashbots sends them.

The fee recipient is ``coinbase`` when given, otherwise a fresh one-time address that
exists (nonce 1), as in the auction's own simulations (world.py ``with_fee_recipient``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mevauction.errors import InputError, require
from mevauction.eth import fields
from mevauction.eth.transactions import MAX_TX_BYTES, Transaction, bundle_hash, decode, refuse_unexecutable
from mevauction.worlds.evm.execution import BlockContext, Executor, new_evm
from mevauction.worlds.evm.state import AccountState, load_into, parse_state
from mevauction.worlds.evm.world import one_time_address, parse_block, with_fee_recipient


class BundleInvalid(Exception):
    """A transaction of the bundle cannot be included at all (the whole call fails)."""

    def __init__(self, index: int, tx_hash: str, reason: str):
        super().__init__(f"txs[{index}] {tx_hash}: {reason}")
        self.index, self.tx_hash, self.reason = index, tx_hash, reason


@dataclass(frozen=True)
class StateAt:
    """A parent state to simulate on: its accounts (or a node to fork lazily) and the block number."""

    number: int
    accounts: dict[str, AccountState]
    fork_url: str | None = None


def call_bundle(txs: Sequence[Transaction], state: StateAt, block: BlockContext,
                coinbase: str | None = None) -> dict[str, Any]:
    """Simulate ``txs`` in order on ``state`` under ``block``; the eth_callBundle result object."""
    accounts = state.accounts
    if coinbase is None:
        coinbase = one_time_address()
        accounts = with_fee_recipient(accounts, coinbase)
    block = replace(block, coinbase=coinbase)
    evm = new_evm(block, state.fork_url, hex(state.number) if state.fork_url else None)
    load_into(evm, accounts)
    ex = Executor(evm, block)
    results: list[dict[str, Any]] = []
    total_gas = total_diff = total_fees = 0
    for index, tx in enumerate(txs):
        res = ex.execute_tx(tx, block.gas_limit - total_gas)
        if res.status == "invalid":
            raise BundleInvalid(index, tx.hash, res.reason or "invalid")
        ex.settle()
        tip = tx.effective_gas_price(block.base_fee) - block.base_fee
        fees = res.gas_used * tip
        item: dict[str, Any] = {
            "txHash": tx.hash, "fromAddress": tx.sender, "toAddress": tx.to, "gasUsed": res.gas_used,
            "gasPrice": str(tip), "gasFees": str(fees), "coinbaseDiff": str(res.coinbase_delta),
            "ethSentToCoinbase": str(res.coinbase_delta - fees),
        }
        if res.status == "ok":
            item["value"] = "0x" + res.output.hex()
        else:
            item["error"] = "execution reverted"
            item["revert"] = (res.reason or "").removeprefix("reverted: ") if res.reason else ""
        results.append(item)
        total_gas += res.gas_used
        total_diff += res.coinbase_delta
        total_fees += fees
    return {
        "results": results,
        "bundleHash": bundle_hash(txs),
        "bundleGasPrice": str(total_diff // total_gas if total_gas else 0),
        "coinbaseDiff": str(total_diff),
        "ethSentToCoinbase": str(total_diff - total_fees),
        "gasFees": str(total_fees),
        "totalGasUsed": total_gas,
        "stateBlockNumber": state.number,
    }


@dataclass(frozen=True)
class CallBundleRequest:
    """Parsed ``eth_callBundle`` params (Flashbots: txs, blockNumber, stateBlockNumber, timestamp)."""

    txs: tuple[Transaction, ...]
    block_number: int
    state_block: int | None  # None: "latest"
    timestamp: int | None = None
    coinbase: str | None = None


CALL_BUNDLE_FIELDS = {"txs", "blockNumber", "stateBlockNumber", "timestamp", "coinbase", "gasLimit", "baseFee"}


def parse_call_bundle(params: Any) -> CallBundleRequest:
    """``[{"txs": [...], "blockNumber": "0x…", "stateBlockNumber": "latest"|"0x…", "timestamp": n}]``."""
    if isinstance(params, list) and len(params) == 1:
        params = params[0]
    require(isinstance(params, dict), "params", "must be one eth_callBundle object")
    unknown = sorted(set(params) - CALL_BUNDLE_FIELDS)
    require(not unknown, unknown[0] if unknown else "", "unknown eth_callBundle field")
    for refused in ("gasLimit", "baseFee"):  # the block's own values are used; say so rather than ignore
        require(refused not in params, refused, "is not supported: the simulation uses the block's own value")
    raws = params.get("txs")
    require(isinstance(raws, list) and 0 < len(raws) <= 100, "txs", "must be a list of 1..100 signed transactions")
    txs = tuple(refuse_unexecutable(decode(fields.data(r, f"txs[{i}]", max_length=MAX_TX_BYTES), f"txs[{i}]"),
                                    f"txs[{i}]") for i, r in enumerate(raws))
    if len({t.hash for t in txs}) != len(txs):
        raise InputError("txs", "repeats a transaction")
    require("blockNumber" in params, "blockNumber", "missing")
    number = fields.quantity(params["blockNumber"], "blockNumber", fields.UINT64_MAX)
    state = params.get("stateBlockNumber", "latest")
    state_block = None if state == "latest" else fields.quantity(state, "stateBlockNumber", fields.UINT64_MAX)
    timestamp = params.get("timestamp")
    ts = fields.uint(timestamp, "timestamp", fields.UINT64_MAX) if timestamp is not None else None
    coinbase = fields.address(params["coinbase"], "coinbase") if params.get("coinbase") else None
    return CallBundleRequest(txs, number, state_block, ts, coinbase)


def call_bundle_on_world(world: dict[str, Any], req: CallBundleRequest) -> dict[str, Any]:
    """eth_callBundle on a configured evm world's parent state (a service without a chain)."""
    if world.get("kind") != "evm":
        raise InputError("world", "eth_callBundle needs the evm world (or --chain), "
                                  f"this service runs {world.get('kind')!r}")
    block, _ = parse_block(world)
    parent = block.number - 1
    if req.state_block is not None and req.state_block != parent:
        raise InputError("stateBlockNumber", f"only the parent state ({hex(parent)}) or 'latest' is held")
    block = replace(block, number=req.block_number, timestamp=req.timestamp or block.timestamp)
    state = StateAt(parent, parse_state(world.get("state", {}), "world.state"), world.get("fork_url"))
    return call_bundle(req.txs, state, block, req.coinbase)
