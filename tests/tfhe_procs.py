"""Random crossing orders, and a running TFHE pair for the tests: a key holder and an evaluator started as their
operators would (``sealed party init``, ``sealed party pair``, ``sealed party serve
--backend tfhe``), each with its own identity, on 127.0.0.1, and the auctioneer's key."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mevauction.privacy import messages
from mevauction.privacy.client import free_ports
from mevauction.privacy.tfhe.remote import ServedPair
from repo_paths import ROOT, SRC

ENV = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
ROLES = ("keyholder", "evaluator")


def orders(rng: random.Random, n: int, levels: int, bits: int) -> list[tuple[str, list[int]]]:
    """n random orders, alternately buy and sell, whose curves cross: each 1–3 steps below
    2^bits, buy steps in the upper two thirds of the grid, sell steps in the lower two thirds."""
    out = []
    for i in range(n):
        side = "buy" if i % 2 == 0 else "sell"
        inc = [0] * levels
        lo, hi = (levels // 3, levels) if side == "buy" else (0, 2 * levels // 3)
        for _ in range(rng.randrange(1, 4)):
            inc[rng.randrange(lo, hi)] = rng.randrange(1, 1 << bits)
        out.append((side, inc))
    return out


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mevauction", *args], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=timeout)


class RunningPair:
    """``start``/``kill`` one party by its role index (0 K, 1 E); ``stop`` both."""

    def __init__(self, where: Path, timeout: float = 60.0) -> None:
        self.where, self.timeout = where, timeout
        ports = free_ports(5)
        addr = [f"127.0.0.1:{p}" for p in ports]
        self.key_files = [where / "K.key", where / "E.key"]
        for role, extra in ((0, []), (1, ["--link", addr[4]])):
            p = cli("sealed", "party", "init", "--role", ROLES[role], "--key-file", str(self.key_files[role]),
                    "--control", addr[2 * role], "--intake", addr[2 * role + 1], *extra)
            assert p.returncode == 0, p.stderr
        self.parties_file = where / "parties.json"
        p = cli("sealed", "party", "pair", *(f"{k}.public.json" for k in self.key_files), "--out",
                str(self.parties_file))
        assert p.returncode == 0, p.stderr
        self.parties = json.loads(self.parties_file.read_text())
        self.control_key = messages.new_key()
        self.control_key_file = where / "auctioneer.key"
        self.control_key_file.write_text(self.control_key.hex())
        self.control = [("127.0.0.1", ports[0]), ("127.0.0.1", ports[2])]
        self.procs: list[subprocess.Popen[bytes] | None] = [None, None]

    def start(self, role: int) -> None:
        cmd = [sys.executable, "-m", "mevauction", "sealed", "party", "serve", "--backend", "tfhe", "--role",
               ROLES[role], "--key-file", str(self.key_files[role]), "--parties-file", str(self.parties_file),
               "--control-key", messages.address(self.control_key), "--close-timeout", str(self.timeout)]
        log = open(self.where / f"{ROLES[role]}.log", "ab")  # open for the process's life
        self.procs[role] = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:  # up once its control port answers
            assert self.procs[role].poll() is None, (self.where / f"{ROLES[role]}.log").read_text()
            try:
                socket.create_connection(self.control[role], timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "the party did not come up"
                time.sleep(0.2)

    def kill(self, role: int) -> None:
        """kill -9: no cleanup of any kind."""
        p = self.procs[role]
        assert p is not None
        os.kill(p.pid, signal.SIGKILL)
        p.wait()

    def stop(self) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=10)

    def client(self, key: bytes | None = None) -> ServedPair:
        return ServedPair(self.parties, key or self.control_key, timeout=self.timeout + 30)
