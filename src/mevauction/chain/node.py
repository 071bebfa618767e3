"""An embedded anvil: started on a free local port, mining under the caller's control.

``serve --chain anvil`` and the tests use :class:`Anvil`. It starts with ``--no-mining``
and ``--order fifo`` so that no block appears unless the auction asks for one
(``evm_mine``) and transactions enter it in the order they were sent: the block is the
auction's, not the node's. Port 0 lets anvil pick a free port (no bind race); the port
is read from its "Listening on" line. The process dies with its parent (Linux
``PR_SET_PDEATHSIG``): a service killed with SIGKILL leaves no node behind.
"""

from __future__ import annotations

import ctypes
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from mevauction.chain import tools
from mevauction.chain.rpc import NodeUnavailable, RpcClient

PR_SET_PDEATHSIG = 1
LISTENING = re.compile(rb"Listening on ([0-9.]+):(\d+)")
# anvil's default test mnemonic: its accounts are public, deterministic devnet keys.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class AnvilConfig:
    """What the embedded node looks like; defaults are mainnet-like where it matters."""

    chain_id: int = 31337
    accounts: int = 10
    balance_eth: int = 10_000
    gas_limit: int = 30_000_000
    base_fee: int = 1_000_000_000  # 1 gwei: an empty devnet would otherwise decay to 7 wei
    hardfork: str = "cancun"  # what the evm world's pyrevm executes
    timestamp: int | None = None
    extra: list[str] = field(default_factory=list)

    def argv(self, binary: str) -> list[str]:
        argv = [binary, "--host", "127.0.0.1", "--port", "0", "--no-mining", "--order", "fifo",
                "--chain-id", str(self.chain_id), "--accounts", str(self.accounts),
                "--balance", str(self.balance_eth), "--gas-limit", str(self.gas_limit),
                "--block-base-fee-per-gas", str(self.base_fee), "--hardfork", self.hardfork,
                "--mnemonic", DEV_MNEMONIC]
        if self.timestamp is not None:
            argv += ["--timestamp", str(self.timestamp)]
        return argv + self.extra


class Anvil:
    """One anvil process. Use as a context manager, or call start()/stop()."""

    def __init__(self, config: AnvilConfig | None = None, startup_timeout: float = 20.0):
        self.config = config or AnvilConfig()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._log: list[bytes] = []

    def start(self) -> Anvil:
        argv = self.config.argv(tools.binary("anvil"))
        # PDEATHSIG is tied to the spawning thread; callers start nodes from long-lived threads.
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.url = self._wait_listening()
        threading.Thread(target=self._drain, name="anvil-log", daemon=True).start()
        self._wait_ready()
        return self

    def _wait_listening(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self._log.append(line)
            match = LISTENING.search(line)
            if match:
                return f"http://{match.group(1).decode()}:{match.group(2).decode()}"
        self.stop()
        tail = b"".join(self._log[-5:]).decode(errors="replace").strip()
        raise NodeUnavailable(f"anvil did not start: {tail or 'no output'}")

    def _drain(self) -> None:
        # Keep reading so a chatty node never blocks on a full pipe; keep the tail for errors.
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._log.append(line)
            if len(self._log) > 200:
                del self._log[:100]

    def _wait_ready(self) -> None:
        client = RpcClient(self.url, timeout=2.0)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while True:
                try:
                    client.chain_id()
                    return
                except NodeUnavailable:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def client(self, timeout: float = 10.0) -> RpcClient:
        return RpcClient(self.url, timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
