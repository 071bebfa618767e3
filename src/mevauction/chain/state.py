"""A node's state at its head, read in one call, and the block it would mine next.

pyrevm can fork a node lazily (``fork_url``): every account and slot an order
touches for the first time is one RPC round trip (≈ 1-2 ms on a local anvil), which
would make a slot of a few hundred orders RPC-bound. A devnet's whole state is
small, so :func:`dump_accounts` reads it at once with ``anvil_dumpState`` (a gzipped
JSON of every account, its code and storage) and the world loads it into pyrevm's
in-memory database: no RPC while orders execute, and the scenario that embeds it is
self-contained. Nodes without ``anvil_dumpState`` are forked lazily instead.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

from mevauction.chain.rpc import NodeUnavailable, RpcClient, RpcError, as_int


@dataclass(frozen=True)
class NextBlock:
    """The head (the parent) and what the node's next block will carry."""

    parent_number: int
    parent_hash: str
    number: int
    timestamp: int
    base_fee: int
    gas_limit: int
    chain_id: int
    prevrandao: str


def next_block(rpc: RpcClient) -> NextBlock:
    """The block the node would mine on its head (from ``eth_getBlockByNumber("pending")``)."""
    head, pending = rpc.batch([("eth_getBlockByNumber", ["latest", False]),
                               ("eth_getBlockByNumber", ["pending", False])])
    if not isinstance(head, dict) or not isinstance(pending, dict):
        raise NodeUnavailable("node sent no latest/pending block")
    parent = as_int(head["number"])
    timestamp = max(as_int(pending.get("timestamp", "0x0")), as_int(head["timestamp"]) + 1)
    return NextBlock(parent, head["hash"], parent + 1, timestamp, as_int(pending.get("baseFeePerGas", "0x0")),
                     as_int(pending.get("gasLimit", head["gasLimit"])), rpc.chain_id(),
                     pending.get("mixHash") or "0x" + "00" * 32)


def dump_accounts(rpc: RpcClient) -> tuple[int, dict[str, Any]] | None:
    """(head block number, every account in prestateTracer shape) via ``anvil_dumpState``; None if unsupported."""
    try:
        number, dumped = rpc.batch([("eth_blockNumber", []), ("anvil_dumpState", [])])
    except RpcError:
        return None
    try:
        state = json.loads(gzip.decompress(bytes.fromhex(dumped.removeprefix("0x"))))
    except (ValueError, OSError, AttributeError) as exc:
        raise NodeUnavailable(f"anvil_dumpState sent no gzipped JSON: {exc}") from None
    head = as_int(number)
    dumped_at = state.get("block", {}).get("number")
    if dumped_at is not None and as_int(dumped_at) != head:
        raise NodeUnavailable(f"state dumped at block {as_int(dumped_at)}, head is {head}: the node moved on")
    accounts = {}
    for address, acc in state.get("accounts", {}).items():
        entry: dict[str, Any] = {"balance": acc.get("balance", "0x0"), "nonce": acc.get("nonce", 0)}
        if acc.get("code") and acc["code"] != "0x":
            entry["code"] = acc["code"]
        if acc.get("storage"):
            entry["storage"] = {k: v for k, v in acc["storage"].items() if int(v, 16)}
        accounts[address.lower()] = entry
    return head, accounts


def read_keys(rpc: RpcClient, block: int, addresses: set[str], slots: set[tuple[str, int]],
              codes: dict[str, str] | None = None) -> dict[str, Any]:
    """Accounts (balance, nonce, code) and storage slots at ``block``, in one batched request.

    Returns the prestateTracer shape. ``codes`` caches non-empty code by address
    (code at an address never changes after creation under Cancun, so it is fetched once).
    """
    codes = codes if codes is not None else {}
    tag = hex(block)
    everyone = sorted(addresses | {addr for addr, _ in slots})
    calls: list[tuple[str, list[object]]] = []
    for addr in everyone:
        calls += [("eth_getBalance", [addr, tag]), ("eth_getTransactionCount", [addr, tag])]
    need_code = [a for a in everyone if a not in codes]
    calls += [("eth_getCode", [a, tag]) for a in need_code]
    ordered = sorted(slots)
    calls += [("eth_getStorageAt", [addr, hex(key), tag]) for addr, key in ordered]
    answers = rpc.batch(calls)
    accounts: dict[str, Any] = {}
    for i, addr in enumerate(everyone):
        accounts[addr] = {"balance": answers[2 * i], "nonce": as_int(answers[2 * i + 1], "nonce")}
    at = 2 * len(everyone)
    for addr, code in zip(need_code, answers[at:at + len(need_code)]):
        if isinstance(code, str) and len(code) > 2:
            codes[addr] = code
    for addr in everyone:
        if addr in codes:
            accounts[addr]["code"] = codes[addr]
    for (addr, key), value in zip(ordered, answers[at + len(need_code):]):
        if as_int(value, "storage value"):
            accounts[addr].setdefault("storage", {})[hex(key)] = value
    return accounts
