"""The parent state of a slot: accounts, code and storage as JSON, loaded into pyrevm.

The JSON shape is the one a node's ``prestateTracer`` returns, so a backtest can
feed a node's output straight in::

    {"0xabc…": {"balance": "0x…", "nonce": 1, "code": "0x…", "storage": {"0x…": "0x…"}}}

Loading puts everything in pyrevm's database and leaves its journaled state empty:
in revm an account or slot is *warm* exactly when it is in the journaled state, and
the journal of an order run from an empty journaled state lists every account and
slot it touches, which is how read/write sets are captured (``access.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mevauction.errors import as_wei, require
from mevauction.eth import fields
from mevauction.eth.keccak import keccak

if TYPE_CHECKING:  # pyrevm is an optional dependency; parsing state needs none of it
    from pyrevm import EVM, AccountInfo


@dataclass(slots=True)
class AccountState:
    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: dict[int, int] = field(default_factory=dict)


def parse_state(obj: Any, where: str = "world.state") -> dict[str, AccountState]:
    """Accounts from a prestateTracer-shaped object (every field optional)."""
    require(isinstance(obj, dict), where, "must be an object of address -> account")
    accounts: dict[str, AccountState] = {}
    for addr, acc in obj.items():
        at = f"{where}.{addr}"
        key = fields.address(addr, at)
        require(isinstance(acc, dict), at, "must be an object")
        storage_obj = acc.get("storage", {})
        require(isinstance(storage_obj, dict), f"{at}.storage", "must be an object")
        storage = {fields.word(k, f"{at}.storage"): fields.word(v, f"{at}.storage.{k}") for k, v in storage_obj.items()}
        accounts[key] = AccountState(
            balance=as_wei(acc.get("balance", 0), f"{at}.balance"),
            nonce=fields.uint(acc.get("nonce", 0), f"{at}.nonce", fields.UINT64_MAX),
            code=fields.data(acc.get("code", "0x"), f"{at}.code"),
            storage=storage,
        )
    return accounts


def state_to_json(accounts: dict[str, AccountState]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for addr in sorted(accounts):
        acc = accounts[addr]
        entry: dict[str, Any] = {"balance": hex(acc.balance), "nonce": acc.nonce}
        if acc.code:
            entry["code"] = "0x" + acc.code.hex()
        if acc.storage:
            entry["storage"] = {f"0x{k:064x}": f"0x{v:064x}" for k, v in sorted(acc.storage.items())}
        out[addr] = entry
    return out


def merge_prestate(traces: Any, where: str = "prestate") -> dict[str, AccountState]:
    """The parent state of a block from ``debug_traceBlock*`` with ``prestateTracer``.

    Each transaction's trace holds the values *before that transaction*; the first
    trace that mentions an account field or a slot therefore holds its value before
    the block. Accepts the per-block list (``[{"txHash", "result"}]``), a JSON-RPC
    response wrapping it, or one transaction's trace object.
    """
    if isinstance(traces, dict) and "result" in traces and "jsonrpc" in traces:
        traces = traces["result"]
    if isinstance(traces, dict):
        traces = [{"result": traces}]
    require(isinstance(traces, list), where, "must be a prestateTracer result or a list of them")
    merged: dict[str, AccountState] = {}
    seen_fields: set[tuple[str, str]] = set()
    for index, item in enumerate(traces):
        require(isinstance(item, dict), f"{where}[{index}]", "must be an object")
        result = item.get("result", item)
        for addr, acc in parse_state(result, f"{where}[{index}].result").items():
            raw = result.get(addr) or result.get(addr.lower()) or {}
            target = merged.setdefault(addr, AccountState())
            for name in ("balance", "nonce", "code"):
                if name in raw and (addr, name) not in seen_fields:
                    seen_fields.add((addr, name))
                    setattr(target, name, getattr(acc, name))
            for slot, value in acc.storage.items():
                target.storage.setdefault(slot, value)
    return merged


def account_info(balance: int, nonce: int = 0, code_hash: bytes | None = None,
                 code: bytes | None = None) -> AccountInfo:
    """pyrevm's account info: ``balance`` wei, ``nonce``, and code (by hash or itself)."""
    global _ACCOUNT_INFO
    if _ACCOUNT_INFO is None:  # pyrevm is an optional extra: imported on first use, once
        from pyrevm import AccountInfo

        _ACCOUNT_INFO = AccountInfo
    # pyrevm's stub omits the ``balance`` its constructor takes.
    return _ACCOUNT_INFO(balance=balance, nonce=nonce, code_hash=code_hash, code=code)


# pyrevm.AccountInfo once imported: an import statement per call cost ~2 % of an evm
# block's default+refunds run (5,500 calls per 400-order block).
_ACCOUNT_INFO: Any = None


def load_into(evm: EVM, accounts: dict[str, AccountState]) -> None:
    """Put ``accounts`` in pyrevm's database, leaving its journaled state empty.

    ``insert_account_storage`` on an account missing from the journaled state writes
    the database and then loads the account (making it warm); doing each insert
    inside a snapshot that is reverted unloads it again while the database keeps
    the value.
    """
    for addr, acc in accounts.items():
        evm.insert_account_info(addr, account_info(acc.balance, acc.nonce, code=acc.code or None))
    for addr, acc in accounts.items():
        for slot, value in acc.storage.items():
            checkpoint = evm.snapshot()
            evm.insert_account_storage(addr, slot, value)
            evm.revert(checkpoint)


STORAGE_TOUCH = re.compile(r"StorageChange \{ address: (0x[0-9a-f]{40}), key: (\d+)")
# One account of revm's journaled state in its Debug form. Analysed bytecode is
# padded with 33 zero bytes; ``len`` is the original length.
ACCOUNT_DEBUG = re.compile(
    r"(0x[0-9a-f]{40}): Account \{ info: AccountInfo \{ balance: (\d+), nonce: (\d+), code_hash: 0x([0-9a-f]{64}), "
    r"code: (?:Some\(Bytecode \{ bytecode: 0x([0-9a-f]*), state: (?:Analysed \{ len: (\d+)|Raw))?")


def harvest(evm: EVM) -> dict[str, AccountState]:
    """Every account and storage slot a setup EVM has touched, with current values.

    Used to turn a generated genesis (contracts deployed and funded by calls on a
    scratch EVM) into a JSON parent state: the journal of that EVM was never
    finalised, so its Debug form names every account and slot ever touched.
    """
    text = evm.journal_str
    head, _, journal = text.partition(", transient_storage: ")
    accounts: dict[str, AccountState] = {}
    for addr, balance, nonce, code_hash, code_hex, length in ACCOUNT_DEBUG.findall(head):
        code = bytes.fromhex(code_hex or "")
        if length:
            code = code[: int(length)]
        if keccak(code).hex() != code_hash:
            raise ValueError(f"harvested code of {addr} does not match its code hash")
        accounts[addr] = AccountState(int(balance), int(nonce), code)
    for addr, key in set(STORAGE_TOUCH.findall(journal)):
        value = evm.storage(addr, int(key))
        if value:
            accounts.setdefault(addr, AccountState()).storage[int(key)] = value
    return accounts
