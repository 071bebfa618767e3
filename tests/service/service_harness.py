"""Start and stop ``mevauction serve`` on 127.0.0.1 for the service tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One ``mevauction serve`` process in its own process group."""

    def __init__(self, db: str, slot_seconds: float = 1.0, world: str = "table", extra: list[str] | None = None,
                 env: dict[str, str] | None = None, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "mevauction", "serve", "--port", str(self.port), "--db", db,
                     "--slot-seconds", str(slot_seconds), "--world", world, *(extra or [])]
        self.env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=ROOT)
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not become healthy")

    def kill9(self) -> None:
        """SIGKILL the whole process group (server and its auction worker)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def world_server(where: Path, generated: dict, slot_seconds: float = 4.0) -> ServerProcess:
    """A started service whose slots run in the generated scenario's world."""
    (where / "world.json").write_text(json.dumps({"world": generated["world"]}))
    return ServerProcess(f"sqlite:///{where / 'svc.db'}", slot_seconds=slot_seconds,
                         world=str(where / "world.json")).start()
