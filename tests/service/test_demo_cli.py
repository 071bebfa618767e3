"""The README's first command: `mevauction demo`, live (service + committee) and offline."""

import socket
import subprocess
import sys

import pytest

from repo_paths import ROOT, SRC


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(*args):
    return subprocess.run([sys.executable, "-m", "mevauction", "demo", *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "120"},
                          timeout=300)


@pytest.mark.slow  # starts a service process
def test_live_demo_settles_slots():
    proc = run_demo("--slots", "2", "--orders", "40", "--slot-seconds", "3", "--port", str(free_port()))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "settled slots" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 2 and all("default" in r or "0x" in r for r in rows)


def test_offline_demo_prints_the_auction():
    proc = run_demo("--offline", "--orders", "60")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "proposer revenue" in proc.stdout and "Final block" in proc.stdout
