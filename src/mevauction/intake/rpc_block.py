"""Backtesting input from real tools: Flashbots bundles and a node's JSON-RPC output.

- ``eth_sendBundle`` params objects (``txs``, ``blockNumber``, ``minTimestamp``,
  ``maxTimestamp``, ``revertingTxHashes``, ``droppingTxHashes``, ``replacementUuid``),
  alone, in a list, or as whole JSON-RPC requests;
- a block from ``eth_getBlockByNumber(n, true)``: its transactions are re-encoded
  from their fields and signature, and the re-encoding must hash to the block's
  ``hash`` for each transaction (so nothing is trusted that is not signed);
- the parent state from ``debug_traceBlockByNumber`` with ``prestateTracer``.
"""

from __future__ import annotations

from typing import Any

from mevauction.errors import InputError, require
from mevauction.eth import fields
from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import ACCESS_LIST, DYNAMIC_FEE, LEGACY, encode_signed, unsigned_fields
from mevauction.intake.scenario import SCENARIO_FORMAT
from mevauction.worlds.evm.state import merge_prestate, state_to_json


def _q(tx: dict, name: str, where: str, default: Any = None) -> int:
    """A QUANTITY field of an RPC object (``0x`` hex, no leading zeros)."""
    value = tx.get(name, default)
    require(value is not None, f"{where}.{name}", "missing")
    return fields.uint(value, f"{where}.{name}")


def raw_from_rpc(tx: dict, where: str) -> bytes:
    """The signed raw bytes of an RPC transaction object, checked against its hash."""
    require(isinstance(tx, dict), where, "must be a transaction object (fetch the block with full transactions)")
    tx_type = _q(tx, "type", where, "0x0")
    require(tx_type in (LEGACY, ACCESS_LIST, DYNAMIC_FEE), f"{where}.type",
            f"type {tx_type} not supported (legacy, 0x1, 0x2)")
    access = tuple((fields.address(a.get("address"), f"{where}.accessList[{i}].address"),
                    tuple(int.from_bytes(fields.bytes32(k, f"{where}.accessList[{i}].storageKeys[{j}]"), "big")
                          for j, k in enumerate(a.get("storageKeys", []))))
                   for i, a in enumerate(tx.get("accessList", []) or []))
    v = _q(tx, "v", where)
    chain_id = tx.get("chainId")
    if tx_type == LEGACY:
        chain_id = (v - 35) // 2 if v >= 35 else None
        y = (v - 35) % 2 if v >= 35 else v - 27
    else:
        chain_id = _q(tx, "chainId", where)
        y = _q(tx, "yParity", where, tx.get("v"))
    fee = _q(tx, "maxFeePerGas", where) if tx_type == DYNAMIC_FEE else _q(tx, "gasPrice", where)
    tip = _q(tx, "maxPriorityFeePerGas", where) if tx_type == DYNAMIC_FEE else fee
    data = fields.data(tx.get("input", tx.get("data", "0x")), f"{where}.input")
    to = None if tx.get("to") is None else fields.address(tx["to"], f"{where}.to")
    unsigned = unsigned_fields(tx_type, chain_id, _q(tx, "nonce", where), _q(tx, "gas", where),
                               to, _q(tx, "value", where, 0), data, access, tip, fee)
    raw = encode_signed(tx_type, unsigned, y, _q(tx, "r", where), _q(tx, "s", where), chain_id)
    if tx.get("hash") is not None:
        require("0x" + keccak(raw).hex() == tx["hash"].lower(), f"{where}.hash",
                "re-encoded transaction does not hash to the given hash")
    return raw


def bundle_params(obj: Any, where: str = "bundles") -> list[dict]:
    """``eth_sendBundle`` params objects from a file's content."""
    items = obj if isinstance(obj, list) else [obj]
    out = []
    for index, item in enumerate(items):
        at = f"{where}[{index}]"
        require(isinstance(item, dict), at, "must be an object")
        if item.get("method") == "eth_sendBundle":
            params = item.get("params")
            require(isinstance(params, list) and params and isinstance(params[0], dict), f"{at}.params",
                    "must be [bundle]")
            item = params[0]
        require(isinstance(item.get("txs"), list) and item["txs"], f"{at}.txs", "missing or empty")
        out.append(item)
    return out


def scenario_from_rpc(block: Any, prestate: Any, bundles: Any = None, *, pin_coinbase: bool = False) -> dict:
    """A ``mevauction.scenario/1`` document re-running a real block's transactions as orders."""
    if isinstance(block, dict) and "result" in block and "jsonrpc" in block:
        block = block["result"]
    require(isinstance(block, dict), "block", "must be an eth_getBlockByNumber result")
    txs = block.get("transactions")
    require(isinstance(txs, list), "block.transactions", "missing")
    orders: list[dict[str, Any]] = []
    for index, tx in enumerate(txs):
        where = f"block.transactions[{index}]"
        if isinstance(tx, dict) and _q(tx, "type", where, "0x0") not in (LEGACY, ACCESS_LIST, DYNAMIC_FEE):
            continue  # blob and set-code transactions are outside this world
        raw = raw_from_rpc(tx, where)
        orders.append({"id": f"tx{index}", "kind": "tx", "raw_txs": ["0x" + raw.hex()]})
    for index, params in enumerate(bundle_params(bundles) if bundles is not None else []):
        orders.append({"id": f"bundle{index}", "kind": "bundle", "bundle": params})
    world_block = {"number": _q(block, "number", "block"), "timestamp": _q(block, "timestamp", "block"),
                   "base_fee": _q(block, "baseFeePerGas", "block", 0), "gas_limit": _q(block, "gasLimit", "block")}
    if pin_coinbase:
        world_block["coinbase"] = block.get("miner")
    chain_id = next((_q(t, "chainId", "block") for t in txs if isinstance(t, dict) and t.get("chainId")), 1)
    if not orders:
        raise InputError("block.transactions", "no supported transactions and no bundles")
    return {"format": SCENARIO_FORMAT,
            "world": {"kind": "evm", "chain_id": chain_id, "block": world_block,
                      "state": state_to_json(merge_prestate(prestate))},
            "block_gas_limit": world_block["gas_limit"], "orders": orders, "builders": []}
