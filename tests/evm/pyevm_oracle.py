"""An independent second opinion: the same signed transactions executed by py-evm.

py-evm (ethereum/py-evm, pure Python, Cancun rules) shares no code with revm, so
where its accounting agrees with what the evm world captured from pyrevm's journal,
both are right or both are wrong in the same way. What it records, per
transaction, follows the rules py-evm applies itself:

- EIP-2929 *accessed_addresses* / *accessed_storage_keys*: every ``mark_address_warm``
  / ``mark_storage_warm`` made while the transaction runs (sender, target, access
  list, and every account or slot an opcode touches);
- writes: every ``set_storage`` / ``set_balance`` / ``set_nonce`` / ``set_code`` that
  changes a value;
- balances read by the BALANCE and SELFBALANCE opcodes.

Entries made inside a frame that py-evm reverts are dropped with it, as EIP-2929
requires for the accessed sets and as revm's journal does. Each transaction starts
from a fresh accessed set (py-evm's ``lock_changes``, the block-building rule), so
gas used is what a mainnet block would charge at that place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth_utils import to_canonical_address

BALANCE, SELFBALANCE = 0x31, 0x47
PRECOMPILE_MAX = 0x11


def hex_address(raw: bytes) -> str:
    return "0x" + raw.hex()


class BalanceOpcode:
    """BALANCE / SELFBALANCE, flagging the state so the balance it reads is recorded."""

    def __init__(self, opcode):
        self.opcode = opcode

    def __getattr__(self, name):
        return getattr(self.opcode, name)

    def __call__(self, computation):
        computation.state.in_balance_opcode = True
        try:
            return self.opcode(computation)
        finally:
            computation.state.in_balance_opcode = False


class RecordingComputation(CancunComputation):
    opcodes = {**CancunComputation.opcodes,
               BALANCE: BalanceOpcode(CancunComputation.opcodes[BALANCE]),
               SELFBALANCE: BalanceOpcode(CancunComputation.opcodes[SELFBALANCE])}


class RecordingState(CancunState):
    """Cancun state that keeps a journaled log of what a transaction touches."""

    computation_class = RecordingComputation

    def __init__(self, *args, **kwargs):
        self.log: list[tuple[str, str]] = []
        self.marks: dict[object, int] = {}
        self.in_balance_opcode = False
        super().__init__(*args, **kwargs)

    # --- journal alignment -----------------------------------------------------
    def snapshot(self):
        snap = super().snapshot()
        self.marks[snap[1]] = len(self.log)
        return snap

    def revert(self, snapshot) -> None:
        del self.log[self.marks.pop(snapshot[1]):]
        super().revert(snapshot)

    def commit(self, snapshot) -> None:
        self.marks.pop(snapshot[1], None)
        super().commit(snapshot)

    # --- accesses ------------------------------------------------------------------
    def mark_address_warm(self, address) -> None:
        self.log.append(("account", hex_address(address)))
        super().mark_address_warm(address)

    def mark_storage_warm(self, address, slot) -> None:
        self.log.append(("slot", f"slot:{hex_address(address)}:{slot:x}"))
        super().mark_storage_warm(address, slot)

    def get_balance(self, address) -> int:
        if self.in_balance_opcode:
            self.log.append(("balance_read", f"balance:{hex_address(address)}"))
        return super().get_balance(address)

    # --- writes ----------------------------------------------------------------------
    def set_storage(self, address, slot, value) -> None:
        if self.get_storage(address, slot) != value:
            self.log.append(("write", f"slot:{hex_address(address)}:{slot:x}"))
        super().set_storage(address, slot, value)

    def set_balance(self, address, balance) -> None:
        if super().get_balance(address) != balance:
            self.log.append(("write", f"balance:{hex_address(address)}"))
        super().set_balance(address, balance)

    def set_nonce(self, address, nonce) -> None:
        if self.get_nonce(address) != nonce:
            self.log.append(("write", f"nonce:{hex_address(address)}"))
        super().set_nonce(address, nonce)

    def increment_nonce(self, address) -> None:
        self.log.append(("write", f"nonce:{hex_address(address)}"))
        super().increment_nonce(address)

    def set_code(self, address, code) -> None:
        if self.get_code(address) != code:
            self.log.append(("write", f"code:{hex_address(address)}"))
        super().set_code(address, code)


@dataclass
class TxTrace:
    """What py-evm saw one transaction do."""

    success: bool
    gas_used: int
    coinbase_delta: int
    accounts: set[str] = field(default_factory=set)  # accessed addresses (precompiles, coinbase left out)
    slots: set[str] = field(default_factory=set)  # accessed storage keys
    writes: set[str] = field(default_factory=set)  # changed slots, balances, nonces, code
    balance_reads: set[str] = field(default_factory=set)  # by BALANCE / SELFBALANCE


class PyEvmChain:
    """A parent state committed to a py-evm database, and a block context over it."""

    def __init__(self, accounts, block):
        self.db = AtomicDB()
        self.context = ExecutionContext(
            coinbase=to_canonical_address(block.coinbase), timestamp=block.timestamp, block_number=block.number,
            difficulty=0, mix_hash=block.prevrandao, gas_limit=block.gas_limit, prev_hashes=(),
            chain_id=block.chain_id, base_fee_per_gas=block.base_fee, excess_blob_gas=0)
        self.coinbase = block.coinbase.lower()
        state = RecordingState(self.db, self.context, BLANK_ROOT_HASH)
        for addr, acc in accounts.items():
            raw = to_canonical_address(addr)
            state.set_balance(raw, acc.balance)
            state.set_nonce(raw, acc.nonce)
            state.set_code(raw, acc.code)
            for slot, value in acc.storage.items():
                state.set_storage(raw, slot, value)
        state.persist()
        self.root = state.state_root

    def run(self, raw_txs: list[str]) -> list[TxTrace]:
        """Execute ``raw_txs`` in sequence on the parent state, as one block would."""
        state = RecordingState(self.db, self.context, self.root)
        builder = CancunVM.get_transaction_builder()
        coinbase = to_canonical_address(self.coinbase)
        traces = []
        for raw in raw_txs:
            tx = builder.decode(bytes.fromhex(raw.removeprefix("0x")))
            state.lock_changes()  # a new transaction: nothing is warm
            del state.log[:]
            before = state.get_balance(coinbase)
            computation = state.apply_transaction(tx)
            trace = TxTrace(computation.is_success, CancunVM.finalize_gas_used(tx, computation),
                            state.get_balance(coinbase) - before)
            for kind, key in state.log:
                if kind == "account" and int(key, 16) > PRECOMPILE_MAX and key != self.coinbase:
                    trace.accounts.add(key)
                elif kind == "slot":
                    trace.slots.add(key)
                elif kind == "write" and key != f"balance:{self.coinbase}":
                    trace.writes.add(key)
                elif kind == "balance_read":
                    trace.balance_reads.add(key)
            traces.append(trace)
        return traces
