"""Executing signed transactions and bundles on pyrevm, as a block would.

pyrevm 0.3.7 exposes revm's journaled state through ``snapshot``/``revert`` and a
``message_call`` that runs a call *without* charging gas (it skips revm's
``deduct_caller``/``reimburse_caller``/``reward_beneficiary``, which are not
journaled). So the gas payment is done here with journaled value transfers,
following execution-specs ``process_transaction``:

1. validity: chain id, fee cap ≥ base fee, gas limit within the block, nonce equal
   to the sender's, sender without code (EIP-3607, checked by revm), balance ≥
   ``gas_limit × max_fee + value``; an invalid transaction has no effect;
2. the sender pays ``gas_limit × effective_gas_price`` up front (into an escrow
   account that doubles as the burn address);
3. the call runs with ``gas_limit − intrinsic access-list gas``; EIP-2930 access
   lists are warmed by journaled loads (revm's own pre-load is not journaled and
   would survive a revert);
4. unused gas is refunded to the sender, ``gas_used × (effective − base_fee)``
   goes to the fee recipient, ``gas_used × base_fee`` stays burned in escrow;
5. the sender's nonce goes up by one (kept in a journaled overlay, see Nonces).

Bundles follow Flashbots ``eth_sendBundle``: all transactions or none, except that
a transaction in ``revertingTxHashes`` may revert (it is kept, its gas paid) and a
transaction in ``droppingTxHashes`` that is invalid or reverts is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from pyrevm import EVM, BlockEnv, CfgEnv, Env

from mevauction.worlds.evm.txcodec import Transaction

# Escrow for the up-front gas payment; what is left there is the burned base fee.
ESCROW = "0x" + "fee0" * 10
ACCESS_LIST_ADDRESS_GAS = 2400  # EIP-2930
ACCESS_LIST_STORAGE_KEY_GAS = 1900
SPEC = "CANCUN"
EMPTY_CODE_HASH = keccak(b"")
REVERT_OUTPUT = re.compile(r"output: 0x([0-9a-f]*)")
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


def revert_reason(message: str, fallback: str) -> str:
    """The ``Error(string)`` message of a revert, from pyrevm's error text, if any."""
    m = REVERT_OUTPUT.search(message)
    if m:
        data = bytes.fromhex(m.group(1))
        if data[:4] == ERROR_SELECTOR:
            try:
                return f"reverted: {abi_decode(['string'], data[4:])[0]}"
            except Exception:  # malformed revert data: fall back to the generic reason
                pass
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


@dataclass(frozen=True, slots=True)
class BundleResult:
    success: bool
    coinbase_delta: int
    gas_used: int
    txs: tuple[TxResult, ...]
    error: str | None = None


class Nonces:
    """Sender nonces on top of the EVM's: pyrevm's message calls do not bump them.

    A stack of bumped senders, truncated on revert, mirrors revm's journal.
    """

    __slots__ = ("bumps", "log")

    def __init__(self) -> None:
        self.bumps: dict[str, int] = {}
        self.log: list[str] = []

    def bump(self, sender: str) -> None:
        self.bumps[sender] = self.bumps.get(sender, 0) + 1
        self.log.append(sender)

    def mark(self) -> int:
        return len(self.log)

    def undo_to(self, mark: int) -> None:
        while len(self.log) > mark:
            sender = self.log.pop()
            self.bumps[sender] -= 1


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


class Executor:
    """One EVM holding the parent state, with a block context; executes orders on it."""

    def __init__(self, evm: EVM, block: BlockContext):
        self.evm = evm
        self.block = block
        self.nonces = Nonces()
        # Journal texts of transactions and bundles undone during a capture run.
        self.captured: list[str] | None = None

    # --- journaled primitives -------------------------------------------------
    def _transfer(self, src: str, dst: str, amount: int) -> None:
        if amount:
            self.evm.message_call(src, dst, value=amount)

    def _revert(self, checkpoint) -> None:
        if self.captured is not None:
            self.captured.append(self.evm.journal_str)
        self.evm.revert(checkpoint)

    def nonce(self, sender: str) -> int:
        return self.evm.basic(sender).nonce + self.nonces.bumps.get(sender, 0)

    # --- one transaction --------------------------------------------------------
    def invalid_reason(self, tx: Transaction, gas_left: int) -> str | None:
        """Why ``tx`` cannot be included here (execution-specs ``check_transaction``)."""
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
        info = self.evm.basic(tx.sender)
        if info.code_hash != EMPTY_CODE_HASH:  # loaded accounts report padded empty code
            return "sender has code (EIP-3607)"
        expected = info.nonce + self.nonces.bumps.get(tx.sender, 0)
        if tx.nonce != expected:
            return f"nonce {tx.nonce} but sender's next nonce is {expected}"
        need = tx.gas_limit * tx.max_fee + tx.value
        balance = self.evm.get_balance(tx.sender)
        if balance < need:
            return f"insufficient funds: balance {balance} < gas limit × max fee + value = {need}"
        return None

    def execute_tx(self, tx: Transaction, gas_left: int) -> TxResult:
        """Execute ``tx`` on top of the current state; an invalid tx leaves no trace."""
        reason = self.invalid_reason(tx, gas_left)
        if reason is not None:
            return TxResult(tx.hash, "invalid", 0, reason)
        evm = self.evm
        price = tx.effective_gas_price(self.block.base_fee)
        checkpoint = evm.snapshot()
        self._transfer(tx.sender, ESCROW, tx.gas_limit * price)
        for addr, keys in tx.access_list:  # warm, journaled (EIP-2930)
            evm.basic(addr)
            for key in keys:
                evm.storage(addr, key)
        list_gas = access_list_gas(tx)
        evm.reset_transient_storage()
        try:
            evm.message_call(tx.sender, tx.to, tx.data, tx.value, tx.gas_limit - list_gas)
            status, why = "ok", None
        except Exception as exc:  # pyrevm raises for reverts, halts and validation errors alike
            result = evm.result
            if result is None or result.is_success:
                self._revert(checkpoint)
                return TxResult(tx.hash, "invalid", 0, f"rejected by the EVM: {exc}")
            status, why = "reverted", revert_reason(str(exc), result.reason)
        gas_used = evm.result.gas_used + list_gas
        self._transfer(ESCROW, tx.sender, (tx.gas_limit - gas_used) * price)
        self._transfer(ESCROW, self.block.coinbase, gas_used * (price - self.block.base_fee))
        evm.commit()
        self.nonces.bump(tx.sender)
        return TxResult(tx.hash, status, gas_used, why)

    # --- one order ---------------------------------------------------------------
    def execute_bundle(self, txs: Iterable[Transaction], reverting: frozenset[str],
                       dropping: frozenset[str], gas_left: int) -> tuple[BundleResult, object, int]:
        """Execute a bundle on top of the current state.

        Returns the result, the checkpoint to revert to (undoing the whole bundle)
        and the nonce mark that goes with it. On failure the state is already
        restored; the caller still owns the checkpoint bookkeeping via ``undo``.
        """
        evm = self.evm
        checkpoint = evm.snapshot()
        mark = self.nonces.mark()
        coinbase = self.block.coinbase
        before = evm.get_balance(coinbase)
        results: list[TxResult] = []
        used = kept = 0
        error = None
        for tx in txs:
            tx_checkpoint = evm.snapshot()
            tx_mark = self.nonces.mark()
            res = self.execute_tx(tx, gas_left - used)
            results.append(res)
            if res.status == "ok" or (res.status == "reverted" and tx.hash in reverting):
                evm.commit()
                used += res.gas_used
                kept += 1
                continue
            if tx.hash in dropping:
                self._revert(tx_checkpoint)
                self.nonces.undo_to(tx_mark)
                continue
            evm.commit()
            error = f"tx {tx.hash} {res.status}" + (f": {res.reason}" if res.reason else "")
            break
        if error is not None or kept == 0:
            error = error or "every transaction was dropped"
            self._revert(checkpoint)
            self.nonces.undo_to(mark)
            return BundleResult(False, 0, used, tuple(results), error), None, mark
        delta = evm.get_balance(coinbase) - before
        return BundleResult(True, delta, used, tuple(results)), checkpoint, mark

    def undo(self, checkpoint, mark: int) -> None:
        """Undo a successful ``execute_bundle``."""
        self.evm.revert(checkpoint)
        self.nonces.undo_to(mark)
