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
                          cwd=ROOT, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
                          timeout=300)


@pytest.mark.slow  # starts a service process and its anvil
def test_demo_on_its_embedded_chain_delivers_verified_blocks_and_stops_anvil():
    proc = run_demo("--slots", "2", "--orders", "16", "--slot-seconds", "3", "--port", str(free_port()))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "delivered blocks" in proc.stdout
    verified = [line for line in proc.stdout.splitlines() if line.startswith("block ") and "verified ok" in line]
    assert len(verified) == 2, proc.stdout[-2000:]
    numbers = [int(line.split()[1]) for line in verified]
    assert numbers[1] == numbers[0] + 1 and all(len(line.split()[2]) == 67 for line in verified)
    node = next(line for line in proc.stdout.split("anvil at ")[1:]).split()[0]
    with pytest.raises(OSError):  # the demo stopped its node
        socket.create_connection(("127.0.0.1", int(node.rsplit(":", 1)[1])), timeout=2).close()


@pytest.mark.slow  # starts a service process
def test_live_demo_without_a_chain_settles_slots():
    proc = run_demo("--chain", "none", "--slots", "2", "--orders", "40", "--slot-seconds", "3",
                    "--port", str(free_port()))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "settled slots" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == 2 and all("default" in r or "0x" in r for r in rows)


def test_offline_demo_prints_the_auction():
    proc = run_demo("--offline", "--orders", "60")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "proposer revenue" in proc.stdout and "Final block" in proc.stdout
