"""Executing signed transactions and bundles on pyrevm, as a block would.

pyrevm 0.3.7 exposes revm's journaled state through ``snapshot``/``revert`` and a
``message_call`` that runs a call *without* charging gas (it skips revm's
``deduct_caller``/``reimburse_caller``/``reward_beneficiary``, which are not
journaled) and *without finalising the journal* (what revm does at the end of a
transaction). So the gas payment is done here with journaled value transfers,
following execution-specs ``process_transaction``:

1. validity: chain id, fee cap ≥ base fee, gas limit within the block, nonce equal
   to the sender's, sender without code (EIP-3607), balance ≥
   ``gas_limit × max_fee + value``; an invalid transaction has no effect;
2. the sender pays ``gas_limit × effective_gas_price`` up front;
3. the call runs with ``gas_limit − intrinsic access-list gas``; EIP-2930 access
   lists are warmed by journaled loads (revm's own pre-load is not journaled and
   would survive a revert);
4. unused gas is refunded to the sender, ``gas_used × (effective − base_fee)``
   goes to the fee recipient, ``gas_used × base_fee`` is burned (credited to
   no one);
5. the transaction is *finalised* (see ``Executor.finalise``; lazily, when the
   block goes on): the journal is read for every account and slot it changed,
   rolled back, and the new values — with the sender's nonce one higher — are
   written into pyrevm's database.

Step 5 is what makes gas exact inside a block. In revm an account or slot is warm
(EIP-2929) exactly when it is in the journaled state, and SSTORE's "original
value" (EIP-2200) is the value it had when loaded into it; a journal that is never
finalised would leave everything an earlier transaction touched warm, with
block-start originals. After step 5 the journaled state is empty between
transactions, as on mainnet. The writes are undone from an undo log (``mark`` /
``undo_to``) instead of pyrevm checkpoints.

Bundles follow Flashbots ``eth_sendBundle``: all transactions or none, except that
a transaction in ``revertingTxHashes`` may revert (it is kept, its gas paid) and a
transaction in ``droppingTxHashes`` that is invalid or reverts is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pyrevm import EVM, AccountInfo, BlockEnv, CfgEnv, Env, JournalCheckpoint

from mevauction.eth.keccak import keccak
from mevauction.eth.transactions import Transaction
from mevauction.worlds.evm.access import CODE, DESTROYED, NONCE, journal_part
from mevauction.worlds.evm.reuse import MAX_REMEMBERED, Digests, Reuse, gas_class
from mevauction.worlds.evm.state import account_info

ACCESS_LIST_ADDRESS_GAS = 2400  # EIP-2930
ACCESS_LIST_STORAGE_KEY_GAS = 1900
SPEC = "CANCUN"
EMPTY_CODE_HASH = keccak(b"")
REVERT_OUTPUT = re.compile(r"output: 0x([0-9a-f]*)")
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
SOME = "had_value: Some("  # a StorageChange that wrote a slot
PAID_AMOUNT = re.compile(r"BalanceTransfer \{ from: (0x[0-9a-f]{40}), to: (0x[0-9a-f]{40}), balance: ([1-9]\d*)")


def revert_reason(message: str, fallback: str) -> str:
    """The ``Error(string)`` message of a revert, from pyrevm's error text, if any.

    The ABI encoding is selector ‖ offset (32) ‖ length ‖ UTF-8 bytes, padded;
    it is read directly (a general ABI decoder costs more than the call here).
    """
    m = REVERT_OUTPUT.search(message)
    if m:
        data = bytes.fromhex(m.group(1))
        if data[:4] == ERROR_SELECTOR and len(data) >= 68 and int.from_bytes(data[4:36], "big") == 32:
            length = int.from_bytes(data[36:68], "big")
            if 68 + length <= len(data):
                return f"reverted: {data[68:68 + length].decode('utf-8', 'replace')}"
    return fallback


@dataclass(frozen=True, slots=True)
class BlockContext:
    """The block being built: its number, time, base fee, gas limit and fee recipient."""

    number: int
    timestamp: int
    base_fee: int
    gas_limit: int
    coinbase: str
    chain_id: int = 1
    prevrandao: bytes = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class TxResult:
    hash: str
    status: str  # "ok", "reverted", "invalid"
    gas_used: int = 0
    reason: str | None = None
    coinbase_delta: int = 0
    output: bytes = b""  # return data, or revert data


@dataclass(frozen=True, slots=True)
class BundleResult:
    success: bool
    coinbase_delta: int
    gas_used: int
    txs: tuple[TxResult, ...]
    error: str | None = None


def new_evm(block: BlockContext, fork_url: str | None = None, fork_block: str | None = None) -> EVM:
    """An EVM for ``block``: in memory, or reading missing state from a node's RPC URL."""
    env = Env(cfg=CfgEnv(chain_id=block.chain_id),
              block=BlockEnv(number=block.number, coinbase=block.coinbase, timestamp=block.timestamp,
                             basefee=block.base_fee, gas_limit=block.gas_limit, prevrandao=block.prevrandao))
    if fork_url:
        return EVM(env=env, fork_url=fork_url, fork_block=fork_block, spec_id=SPEC)
    return EVM(env=env, spec_id=SPEC)


def access_list_gas(tx: Transaction) -> int:
    return sum(ACCESS_LIST_ADDRESS_GAS + ACCESS_LIST_STORAGE_KEY_GAS * len(keys) for _, keys in tx.access_list)


def changed_state(journal: str) -> tuple[dict[str, int], dict[tuple[str, int], int], bool]:
    """What a transaction's journal changed.

    Returns the net balance change of every account in a journaled value
    transfer, every slot written with its value before the transaction (the first
    ``StorageChange … had_value: Some(v)`` of a slot carries the value it was
    loaded with), and whether nonces or code changed too (CREATE, SELFDESTRUCT),
    in which case the balance changes alone do not give the accounts' previous
    state.
    """
    deltas: dict[str, int] = {}
    for src, dst, amount in PAID_AMOUNT.findall(journal):
        value = int(amount)
        deltas[src] = deltas.get(src, 0) - value
        deltas[dst] = deltas.get(dst, 0) + value
    # CodeChange only comes with AccountCreated; a failed CREATE leaves its NonceChange.
    # (Patterns ending in "{" are found faster in hex-heavy text than bare names.)
    other = "NonceChange {" in journal or "AccountCreated {" in journal or "AccountDestroyed {" in journal
    if other:
        for addr in NONCE.findall(journal) + CODE.findall(journal):
            deltas.setdefault(addr, 0)
        for addr, target in DESTROYED.findall(journal):
            deltas.setdefault(addr, 0)
            deltas.setdefault(target, 0)
    first: dict[tuple[str, str], str] = {}
    pieces = journal.split(SOME)
    for i in range(1, len(pieces)):  # piece i-1 ends "StorageChange { address: A, key: K, "
        head = pieces[i - 1]
        at = head.rfind("address: ") + 9
        slot = (head[at:at + 42], head[at + 49:head.index(",", at + 49)])
        if slot not in first:
            tail = pieces[i]
            first[slot] = tail[:tail.index(")")]
    slots = {(addr, int(key)): int(value) for (addr, key), value in first.items()}
    return deltas, slots, other


class Executor:
    """One EVM holding the parent state, with a block context; executes orders on it.

    Between transactions pyrevm's journaled state is empty and the state of the
    block so far lives in its database; ``undo_log`` lists the database writes
    (account infos and slots with their previous values) so they can be undone.

    The last transaction executed stays *open* (``pending``: its journal not yet
    rolled back and written out) until something needs the block to go on: the
    next transaction or a ``mark`` settles it, an ``undo_to`` just rolls it back.
    A search that pushes an order, reads its bid and pops it again therefore
    never pays for finalising it.
    """

    def __init__(self, evm: EVM, block: BlockContext):
        self.evm = evm
        self.block = block
        # (address, previous slot value, key, new value, digest) or (address,
        # previous info, -1, new info, digest); for the fee recipient the infos are
        # its balances. ``prefix[i]`` is the state digest after ``undo_log[:i]``
        # (reuse.py): the digest of the database now is ``prefix[-1]``.
        self.undo_log: list[tuple[str, AccountInfo | int, int, AccountInfo | int, int]] = []
        self.prefix: list[int] = [0]
        self.digests = Digests()
        # Remembered pushes by (order key, gas class, state digest); None: never reuse.
        self.outcomes: dict[tuple[str, int, int], Reuse] | None = {}
        # A reused push not yet applied to the database (entry, its mark); applied
        # when the block goes on, dropped by an undo, like ``pending``.
        self.deferred: Reuse | None = None
        # A push executed for real whose last transaction is still open: its entries
        # are known once that transaction is finalised.
        self.recording: tuple[Reuse, int] | None = None
        self.reused = 0  # pushes answered from ``outcomes`` (benchmarks print it)
        # Journal texts of the transactions run during a capture (access.py).
        self.captured: list[str] | None = None
        # revm loads the fee recipient outside the journal at every call (EIP-3651
        # makes it warm), so it never leaves the journaled state and a rollback
        # does not restore its balance. Loading it here, below every checkpoint,
        # makes that permanent from the start; its balance is set explicitly.
        self.coinbase = evm.basic(block.coinbase)
        # (checkpoint, sender address, sender info before, fee recipient balance before)
        self.pending: tuple[JournalCheckpoint, str, AccountInfo, int] | None = None

    # --- reading without warming -------------------------------------------------
    def balance(self, address: str) -> int:
        self.settle()
        checkpoint = self.evm.snapshot()
        value = self.evm.get_balance(address)
        self.evm.revert(checkpoint)
        return value

    def storage(self, address: str, key: int) -> int:
        self.settle()
        checkpoint = self.evm.snapshot()
        value = self.evm.storage(address, key)
        self.evm.revert(checkpoint)
        return value

    def nonce(self, sender: str) -> int:
        self.settle()  # an open transaction's sender nonce is bumped when it is settled
        checkpoint = self.evm.snapshot()
        value = self.evm.basic(sender).nonce
        self.evm.revert(checkpoint)
        return value

    # --- the database as the block so far -------------------------------------------
    def mark(self) -> int:
        """A point to come back to with ``undo_to``: the block so far, open transaction included."""
        self.settle()
        return len(self.undo_log)

    def settle(self) -> None:
        """Finalise the open transaction, if any, or apply a reused push."""
        if self.deferred is not None:
            entry, self.deferred = self.deferred, None
            if entry.entries is not None:
                self._replay(entry.entries)
                return
            # Reused before its entries were known (it was popped while open): run it
            # for real now; the same state gives the same result.
            mark = len(self.undo_log)
            again = self._run_bundle(*entry.run)
            if again != entry.result:
                raise RuntimeError("a reused push gave a different result on the same state")
            self._remember(entry, mark)
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.finalise(*pending)
            if self.recording is not None:
                entry, mark = self.recording
                self.recording = None
                entry.entries = tuple(self.undo_log[mark:])

    def _log(self, entry: tuple[str, AccountInfo | int, int, AccountInfo | int, int]) -> None:
        self.undo_log.append(entry)
        self.prefix.append(self.prefix[-1] ^ entry[4])

    def _replay(self, entries: tuple) -> None:
        """Apply a remembered push's database writes (the last write of a key wins)."""
        coinbase = self.block.coinbase
        accounts: dict[str, AccountInfo] = {}
        slots: dict[tuple[str, int], int] = {}
        coinbase_balance = None
        for entry in entries:
            self._log(entry)
            self.digests.apply(entry)
            address, _, key, new, _ = entry
            if key >= 0:
                slots[(address, key)] = new
            elif address == coinbase:
                coinbase_balance = new
            else:
                accounts[address] = new
        for address, info in accounts.items():
            self.evm.insert_account_info(address, info)
        self._write_slots(slots)
        if coinbase_balance is not None:
            self._set_coinbase_balance(coinbase_balance)

    def discard(self) -> None:
        """Roll the open transaction back, if any (or drop a reused push)."""
        self.deferred = self.recording = None
        if self.pending is not None:
            checkpoint, _, _, coinbase_before = self.pending
            self.pending = None
            if self.captured is not None:
                self.captured.append(self.evm.journal_str)
            self.evm.revert(checkpoint)
            self._set_coinbase_balance(coinbase_before)

    def undo_to(self, mark: int) -> None:
        """Undo everything since ``mark``: the open transaction, then the database writes."""
        self.discard()
        evm, log = self.evm, self.undo_log
        if len(log) <= mark:
            return
        accounts: dict[str, AccountInfo | int] = {}
        slots: dict[tuple[str, int], int] = {}
        apply = self.digests.apply
        for entry in log[mark:]:
            apply(entry)
            address, previous, key, _, _ = entry
            if key >= 0 and isinstance(previous, int):  # a slot (key -1: an account)
                slots.setdefault((address, key), previous)
            else:
                accounts.setdefault(address, previous)
        del log[mark:]
        del self.prefix[mark + 1:]
        for address, previous in accounts.items():
            if isinstance(previous, int):  # the fee recipient's balance
                self._set_coinbase_balance(previous)
            else:
                evm.insert_account_info(address, previous)
        self._write_slots(slots)

    def _write_slots(self, values: dict[tuple[str, int], int]) -> None:
        """Write slots into the database, leaving their accounts cold.

        A cold ``insert_account_storage`` writes the database and then loads the
        account (a second insert to it would go to the journal instead), so each
        round writes one slot per account inside a snapshot that is rolled back.
        """
        evm = self.evm
        pending = list(values.items())
        while pending:
            later: list[tuple[tuple[str, int], int]] = []
            seen: set[str] = set()
            checkpoint = evm.snapshot()
            for (address, key), value in pending:
                if address in seen:
                    later.append(((address, key), value))
                else:
                    seen.add(address)
                    evm.insert_account_storage(address, key, value)
            evm.revert(checkpoint)
            pending = later

    def _set_coinbase_balance(self, balance: int) -> None:
        # Without ``code`` (pyrevm returns analysed code padded with zeros); revm
        # fetches it by hash when the fee recipient's code is needed.
        info = self.coinbase
        self.evm.insert_account_info(self.block.coinbase, account_info(balance, info.nonce, info.code_hash))

    def finalise(self, checkpoint: JournalCheckpoint, sender_address: str, sender: AccountInfo,
                 coinbase_before: int) -> None:
        """End a transaction: move what it changed from the journal into the database.

        ``sender`` is the sender's account info before the transaction. The
        journal is rolled back to ``checkpoint`` (taken at the start of the
        transaction, with an empty journaled state), so the next transaction
        starts with nothing warm.
        """
        evm = self.evm
        coinbase = self.block.coinbase
        text = evm.journal_str
        if self.captured is not None:
            self.captured.append(text)
        coinbase_after = evm.get_balance(coinbase)
        deltas, slots, other = changed_state(journal_part(text))
        deltas.pop(coinbase, None)
        deltas.setdefault(sender_address, 0)
        after = {addr: evm.basic(addr) for addr in deltas}
        new_values = {slot: evm.storage(*slot) for slot in slots}
        evm.revert(checkpoint)
        if other:  # nonces or code changed: read the previous state itself
            peek = evm.snapshot()
            before = {addr: evm.basic(addr) for addr in deltas}
            evm.revert(peek)
        log, change = self._log, self.digests.change
        for addr, info in after.items():
            if addr == sender_address:  # message calls leave the caller's nonce
                old = sender
                info = account_info(info.balance, info.nonce + 1, info.code_hash)
            elif other:
                old = before[addr]
                if (info.balance, info.nonce, info.code_hash) == (old.balance, old.nonce, old.code_hash):
                    continue
            elif deltas[addr]:
                old = account_info(info.balance - deltas[addr], info.nonce, info.code_hash)
            else:
                continue
            log((addr, old, -1, info, change(addr, -1, old, info)))
            evm.insert_account_info(addr, info)
        written = {slot: value for slot, value in new_values.items() if value != slots[slot]}
        for (addr, key), value in written.items():
            old_value = slots[(addr, key)]
            log((addr, old_value, key, value, change(addr, key, old_value, value)))
        self._write_slots(written)
        if coinbase_after != coinbase_before:
            log((coinbase, coinbase_before, -1, coinbase_after,
                 change(coinbase, -1, coinbase_before, coinbase_after)))
        self._set_coinbase_balance(coinbase_after)  # a rollback does not restore it

    # --- one transaction --------------------------------------------------------
    def invalid_reason(self, tx: Transaction, gas_left: int, sender: AccountInfo) -> str | None:
        """Why ``tx`` cannot be included here (execution-specs ``check_transaction``).

        ``sender`` is the sender's current account info.
        """
        block = self.block
        if tx.chain_id is not None and tx.chain_id != block.chain_id:
            return f"chain id {tx.chain_id} differs from the chain's {block.chain_id}"
        if tx.to is None:
            return "contract-creation transactions are not supported in orders"
        if tx.max_fee < block.base_fee:
            return f"max fee per gas {tx.max_fee} below base fee {block.base_fee}"
        if tx.gas_limit > gas_left:
            return f"gas limit {tx.gas_limit} exceeds the {gas_left} gas left in the block"
        intrinsic = 21_000 + access_list_gas(tx) + 16 * len(tx.data) - 12 * tx.data.count(0)
        if tx.gas_limit < intrinsic:
            return f"gas limit {tx.gas_limit} below intrinsic gas {intrinsic}"
        if sender.code_hash != EMPTY_CODE_HASH:  # loaded accounts report padded empty code
            return "sender has code (EIP-3607)"
        if tx.nonce != sender.nonce:
            return f"nonce {tx.nonce} but sender's next nonce is {sender.nonce}"
        need = tx.gas_limit * tx.max_fee + tx.value
        if sender.balance < need:
            return f"insufficient funds: balance {sender.balance} < gas limit × max fee + value = {need}"
        return None

    def execute_tx(self, tx: Transaction, gas_left: int) -> TxResult:
        """Execute ``tx`` on top of the block so far and leave it open; an invalid tx leaves no trace.

        The fee payments are plain balance updates: finalising reads every
        balance the transaction left and rolls the journal back, so they need not
        be journaled. The burned base fee is simply not credited to anyone.
        """
        self.settle()
        evm = self.evm
        checkpoint = evm.snapshot()
        sender = evm.basic(tx.sender)
        reason = self.invalid_reason(tx, gas_left, sender)
        if reason is not None:
            evm.revert(checkpoint)
            return TxResult(tx.hash, "invalid", 0, reason)
        to = tx.to
        assert to is not None, "invalid_reason refuses contract creations"
        price = tx.effective_gas_price(self.block.base_fee)
        coinbase = self.block.coinbase
        coinbase_before = evm.get_balance(coinbase)
        evm.set_balance(tx.sender, sender.balance - tx.gas_limit * price)
        for addr, keys in tx.access_list:  # warm, journaled (EIP-2930)
            evm.basic(addr)
            for key in keys:
                evm.storage(addr, key)
        list_gas = access_list_gas(tx)
        evm.reset_transient_storage()
        try:
            output = evm.message_call(tx.sender, to, tx.data, tx.value, tx.gas_limit - list_gas)
            status, why = "ok", None
        except Exception as exc:  # pyrevm raises for reverts, halts and validation errors alike
            result = evm.result
            if result is None or result.is_success:
                evm.revert(checkpoint)
                self._set_coinbase_balance(coinbase_before)
                return TxResult(tx.hash, "invalid", 0, f"rejected by the EVM: {exc}")
            status, why = "reverted", revert_reason(str(exc), result.reason)
            found = REVERT_OUTPUT.search(str(exc))
            output = bytes.fromhex(found.group(1)) if found else b""
        result = evm.result
        assert result is not None, "every message_call leaves a result"
        gas_used = result.gas_used + list_gas
        evm.set_balance(tx.sender, evm.get_balance(tx.sender) + (tx.gas_limit - gas_used) * price)
        tip = gas_used * (price - self.block.base_fee)
        if tip:
            evm.set_balance(coinbase, evm.get_balance(coinbase) + tip)
        self.pending = (checkpoint, tx.sender, sender, coinbase_before)
        return TxResult(tx.hash, status, gas_used, why, evm.get_balance(coinbase) - coinbase_before, bytes(output))

    # --- one order ---------------------------------------------------------------
    def execute_bundle(self, txs: tuple[Transaction, ...], reverting: frozenset[str],
                       dropping: frozenset[str], gas_left: int, key: str | None = None) -> tuple[BundleResult, int]:
        """Execute a bundle on top of the block so far.

        Returns the result and the undo mark that removes the whole bundle again
        (``undo_to``). On failure the bundle is already undone. With ``key`` (naming
        the bundle: the same key, the same arguments) a push on a state seen before
        reuses that outcome (reuse.py); its writes reach the database only when the
        block goes on. Captures (``captured``) always execute.
        """
        mark = self.mark()
        outcomes = self.outcomes
        if key is None or outcomes is None or self.captured is not None:
            return self._run_bundle(txs, reverting, dropping, gas_left), mark
        name = (key, gas_class(gas_left, txs), self.prefix[-1])
        entry = outcomes.get(name)
        if entry is None:
            result = self._run_bundle(txs, reverting, dropping, gas_left)
            if len(outcomes) >= MAX_REMEMBERED:
                outcomes.clear()
            outcomes[name] = entry = Reuse(result, (txs, reverting, dropping, gas_left))
            self._remember(entry, mark)
        else:
            self.reused += 1
            if entry.result.success:
                self.deferred = entry
        return entry.result, mark

    def _remember(self, entry: Reuse, mark: int) -> None:
        """Keep the writes of a push just executed from ``mark``: now if nothing is open
        (it failed, or its last transaction was dropped), else once that is finalised."""
        if self.pending is None:
            entry.entries = tuple(self.undo_log[mark:])
        else:
            self.recording = (entry, mark)

    def _run_bundle(self, txs: Iterable[Transaction], reverting: frozenset[str],
                    dropping: frozenset[str], gas_left: int) -> BundleResult:
        mark = self.mark()
        results: list[TxResult] = []
        used = kept = delta = 0
        error = None
        for tx in txs:
            tx_mark = self.mark()
            res = self.execute_tx(tx, gas_left - used)
            results.append(res)
            if res.status == "ok" or (res.status == "reverted" and tx.hash in reverting):
                used += res.gas_used
                delta += res.coinbase_delta
                kept += 1
                continue
            if tx.hash in dropping:
                self.undo_to(tx_mark)
                continue
            error = f"tx {tx.hash} {res.status}" + (f": {res.reason}" if res.reason else "")
            break
        if error is not None or kept == 0:
            error = error or "every transaction was dropped"
            self.undo_to(mark)
            return BundleResult(False, 0, used, tuple(results), error)
        return BundleResult(True, delta, used, tuple(results))
