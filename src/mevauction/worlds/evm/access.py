"""Read/write sets from revm's journal (what rbuilder's ``UsedStateTrace`` records).

An order is run at the top of the block from a journaled state that holds nothing
but the fee recipient, so revm's journal lists everything the order touches:

- ``AccountLoaded {address}`` — the account was read (its code, and its existence);
- ``StorageChange {address, key, had_value: None}`` — a slot was read (cold load);
- ``StorageChange {… had_value: Some(_)}`` — a slot was written;
- ``BalanceTransfer {from, to, balance}`` with ``balance > 0`` — both balances written;
- ``AccountCreated`` — code and nonce written (EIP-161 starts a contract at nonce 1);
- ``CodeChange`` / ``AccountDestroyed`` — code written.

Keys: ``slot:<address>:<key hex>``, ``balance:<address>``, ``code:<address>``,
``nonce:<address>``. A *balance read* cannot be seen in the journal (revm loads an
account for many reasons), so it is derived from code: an order reads the balance
of every transaction sender (the fee check), of each loaded contract whose code
contains ``SELFBALANCE``, and of every loaded account when some loaded code
contains ``BALANCE``. Gas payments are not journaled (execution.py), so every
sender's balance and nonce are written. Payments to the fee recipient and the
precompiles are left out: payments to the fee recipient commute (Boost+ paper § 5.1),
and no order can observe the precompiles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from mevauction.worlds.base import Access

LOADED = re.compile(r"AccountLoaded \{ address: (0x[0-9a-f]{40})")
STORAGE_ENTRY = "StorageChange { address: "
PAID = re.compile(r"BalanceTransfer \{ from: (0x[0-9a-f]{40}), to: (0x[0-9a-f]{40}), balance: [1-9]")
CODE = re.compile(r"(?:AccountCreated|CodeChange) \{ address: (0x[0-9a-f]{40})")
CREATED = re.compile(r"AccountCreated \{ address: (0x[0-9a-f]{40})")
NONCE = re.compile(r"NonceChange \{ address: (0x[0-9a-f]{40})")
DESTROYED = re.compile(r"AccountDestroyed \{ address: (0x[0-9a-f]{40}), target: (0x[0-9a-f]{40})")
PRECOMPILES = frozenset(f"0x{i:040x}" for i in range(1, 0x12))
BALANCE_OP, SELFBALANCE_OP = 0x31, 0x47


@lru_cache(maxsize=4096)
def balance_opcodes(code: bytes) -> tuple[bool, bool]:
    """Whether ``code`` contains BALANCE / SELFBALANCE as instructions (PUSH data skipped)."""
    has_balance = has_self = False
    i, n = 0, len(code)
    while i < n:
        op = code[i]
        if op == BALANCE_OP:
            has_balance = True
        elif op == SELFBALANCE_OP:
            has_self = True
        i += op - 0x5E if 0x60 <= op <= 0x7F else 1
    return has_balance, has_self


def storage_entries(journal: str) -> set[tuple[str, str, str]]:
    """(address, decimal key, "N" for a load | "S" for a write) of every StorageChange.

    A split is cheaper than a regex here; ``TransientStorageChange`` entries also
    split off but carry a plain number as ``had_value`` and are skipped.
    """
    out = set()
    for piece in journal.split(STORAGE_ENTRY)[1:]:  # "0x<40 hex>, key: <K>, had_value: …"
        comma = piece.index(",", 49)
        had = piece[comma + 13]
        if had == "N" or had == "S":
            out.add((piece[:42], piece[49:comma], had))
    return out


@lru_cache(maxsize=1 << 16)
def slot_key(address: str, key: str) -> str:
    return f"slot:{address}:{int(key):x}"


def journal_part(text: str) -> str:
    """The ``journal: [...]`` part of ``EVM.journal_str`` (the state part is not needed)."""
    start = text.rfind(", journal: [")
    return text[start:] if start >= 0 else ""


def access_from_journals(texts: Iterable[str], senders: Iterable[str], code_of, ignore: frozenset[str]) -> Access:
    """The read/write set recorded in ``texts`` (journal dumps) for an order with these senders."""
    reads: set[str] = set()
    writes: set[str] = set()
    loaded: set[str] = set()
    slots: set[tuple[str, str, str]] = set()
    for text in texts:
        journal = journal_part(text)
        loaded.update(LOADED.findall(journal))
        slots.update(storage_entries(journal))
        for src, dst in PAID.findall(journal):
            writes.add(f"balance:{src}")
            writes.add(f"balance:{dst}")
        if "NonceChange {" in journal:
            writes.update(f"nonce:{a}" for a in NONCE.findall(journal))
        if "AccountCreated {" in journal:  # a CodeChange only comes with one
            writes.update(f"code:{a}" for a in CODE.findall(journal))
            writes.update(f"nonce:{a}" for a in CREATED.findall(journal))
        if "AccountDestroyed {" in journal:
            for addr, target in DESTROYED.findall(journal):
                writes.update((f"code:{addr}", f"balance:{addr}", f"balance:{target}"))
    for addr, key, had in slots:  # a slot is loaded once, and may be written many times
        (reads if had == "N" else writes).add(slot_key(addr, key))
    loaded -= ignore
    reads.update(f"code:{a}" for a in loaded)
    any_balance = False
    for addr in loaded:
        code = code_of(addr)
        if code:
            has_balance, has_self = balance_opcodes(code)
            any_balance |= has_balance
            if has_self:
                reads.add(f"balance:{addr}")
    if any_balance:
        reads.update(f"balance:{a}" for a in loaded)
    for sender in senders:
        reads.update((f"balance:{sender}", f"nonce:{sender}"))
        writes.update((f"balance:{sender}", f"nonce:{sender}"))
    ignored = {f"balance:{a}" for a in ignore}
    return Access(frozenset(reads - ignored), frozenset(writes - ignored))
