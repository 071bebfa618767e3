"""Containment: hostile builder algorithms, run by the real auction in the real jail.

Every attacker runs in one slot, all at once, beside an honest builder. Each must be
contained (what it saw is printed, and checked), the honest builder must still win,
and the auction must come back within the budget plus the time to kill and reap.
The control arm runs the same attacks without the jail: there they succeed, which
shows that these tests can fail.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from hostile_algorithms import ATTACKS, HONEST, READ_SHARED, source

from mevauction.intake.scenario import load_scenario
from mevauction.mechanism.boost import AuctionInput, run_auction
from mevauction.mechanism.builders import BuilderSubmission, Candidate
from mevauction.sandbox import jail as jail_module
from mevauction.sandbox.jail import GUEST_PYTHON, Jailed, Limits, Program, jail_problem, wait_teardown
from mevauction.sandbox.seccomp import filter_bytes
from repo_paths import ROOT

pytestmark = [
    pytest.mark.slow,  # starts ~20 jailed processes for over a second
    pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}"),
]

# Long enough that the attackers which do finish do so on a loaded 2-core machine (a
# fork bomb and two busy loops share the cores with them); the hanging ones take all of it.
BUDGET_MS = 3000
TOKEN = "s3cret-" + os.urandom(6).hex()
VICTIM = "victim-" + os.urandom(6).hex()


@pytest.fixture
def world():
    return load_scenario(ROOT / "examples" / "table1.json").world


@pytest.fixture
def secrets_env(tmp_path, monkeypatch):
    """A database, a key file and an environment variable that hold TOKEN; a listener."""
    db = tmp_path / "auction.sqlite"
    con = sqlite3.connect(db)
    con.execute("create table keys (k text)")
    con.execute("insert into keys values (?)", (TOKEN,))
    con.commit()
    con.close()
    key = tmp_path / "member-0.key"
    key.write_text(TOKEN)
    monkeypatch.setenv("MEVAUCTION_TEST_SECRET", TOKEN)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    mark = "mevalgo-mark-" + os.urandom(4).hex()
    values = {"TOKEN": TOKEN, "DB": str(db), "KEY": str(key), "PORT": str(listener.getsockname()[1]),
              "HOSTPID": str(os.getpid()), "REPO": str(ROOT), "VICTIM": VICTIM, "VICTIMREV": VICTIM[::-1], "MARK": mark,
              "HOSTTMP": str(tmp_path), "WORKROOT": "/dev/shm"}
    yield values, listener
    listener.close()
    for root in ("/", "/tmp", "/dev/shm"):  # the control arm writes there
        Path(root, mark).unlink(missing_ok=True)


def run_slot(world, programs: dict[str, bytes]) -> tuple[dict[str, Candidate], float]:
    subs = [BuilderSubmission(name, None, None, None, Program("python", code, name)) for name, code in programs.items()]
    start = time.monotonic()
    report = run_auction(AuctionInput(world, subs, 0, algorithm_limits=Limits(budget_ms=BUDGET_MS)))
    elapsed = time.monotonic() - start
    return {c.id: c for c in report.builders}, elapsed


def saw(c: Candidate) -> str:
    return c.run.stderr if c.run else ""


def show(cands: dict[str, Candidate], elapsed: float) -> None:
    print(f"\n{len(cands)} algorithms, one slot, budget {BUDGET_MS} ms, auction took {elapsed * 1000:.0f} ms")
    for name, c in cands.items():
        print(f"--- {name}: {'valid' if c.valid else 'invalid'}; reason: {c.reason}"
              + (f" ({c.run.detail})" if c.run and c.run.detail else ""))
        for line in saw(c).split(" | "):
            if line.startswith("SAW"):
                print("    " + line)


def connections(listener: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return got
        conn.settimeout(0.5)
        try:
            got.append(conn.recv(100))
        except OSError:
            got.append(b"")
        conn.close()


def test_every_attack_is_contained_and_the_auction_completes(world, secrets_env, tmp_path, jail_dirs):
    values, listener = secrets_env
    programs = {name: source(body, values) for name, body in ATTACKS.items()}
    programs["honest"] = source(HONEST, values)
    cands, elapsed = run_slot(world, programs)
    show(cands, elapsed)
    assert wait_teardown(), "a jail's teardown did not finish"  # teardown runs off the critical path
    assert jail_dirs and not [d for d in jail_dirs if d.exists()], "a jail's directory was left behind"

    # On time: the budget, plus killing and reaping (generous for a loaded 2-core CI machine).
    assert elapsed < BUDGET_MS / 1000 + 2.0
    assert cands["honest"].valid and cands["honest"].bid == 150
    everything = " ".join(saw(c) + (c.reason or "") for c in cands.values())
    assert TOKEN not in everything, "a secret reached an algorithm"

    assert connections(listener) == []
    seccomp = filter_bytes() is not None
    assert ("Operation not permitted" if seccomp else "Network is unreachable") in saw(cands["socket"])
    for name in ("read_database", "read_key_file"):
        assert "FileNotFoundError" in saw(cands[name]) and cands[name].valid
    assert "list /: ['algo', 'bin', 'dev', 'lib', 'lib64', 'proc', 'tmp', 'usr']" in saw(cands["read_database"])
    env = saw(cands["read_environ"])
    # Only what Python itself sets inside: no variable of the host's.
    assert "os.environ: {'PWD': '/algo', 'LC_CTYPE': 'C.UTF-8'}" in env and "pids: [1]" in env
    assert "/proc/self/environ: 'PWD=/algo\\x00'" in env
    assert "host /proc/" in env and "FileNotFoundError" in env
    assert VICTIM not in saw(cands["read_other_code"]) and "none the victim's" in saw(cands["read_other_code"])
    for root in ("/tmp", "/dev/shm", str(tmp_path)):
        assert not Path(root, values["MARK"]).exists()
    assert "after" in saw(cands["fork_bomb"]) and "BlockingIOError" in saw(cands["fork_bomb"])
    assert "MemoryError" in saw(cands["memory_bomb"]) and "after 192 MiB" in saw(cands["memory_bomb"])
    for name in ("infinite_loop", "sleep_past_budget"):
        assert not cands[name].valid and cands[name].reason.startswith(("timeout", "CPU limit"))
    assert "request line longer than" in cands["flood_stdout"].reason
    assert "protocol violation" in cands["flood_garbage_lines"].reason
    assert "repeats order 'o1'" in cands["duplicate_ids"].reason
    assert "names unknown order 'o-from-nowhere'" in cands["unknown_ids"].reason
    assert "includes conflict-free order 'o9'" in cands["orders_from_s"].reason
    assert "ids offered: ['o1', 'o2']" in saw(cands["orders_from_s"])
    assert "exceeds the block's value 150 plus deposit 0" in cands["huge_bid"].reason
    beyond = cands["bid_beyond_uint256"]
    assert beyond.reason == "protocol violation" and "submit.bid must be" in beyond.run.detail
    coinbase = saw(cands["detect_coinbase"])
    assert "unknown op 'coinbase'" in coinbase and "unknown op 'world'" in coinbase
    # It executes on the slot's own world (one fee recipient for all): the same value as o*.
    assert "simulated value: 150" in coinbase
    sig = saw(cands["signal_parent"])
    assert "ppid: 0" in sig and "ptrace parent: 'ptrace=-1" in sig
    assert "kill host: ProcessLookupError" in sig and "ptrace host: 'ptrace=-1" in sig
    for name, c in cands.items():
        if name not in {"infinite_loop", "sleep_past_budget", "flood_stdout", "flood_garbage_lines",
                        "duplicate_ids", "unknown_ids", "orders_from_s", "huge_bid", "bid_beyond_uint256"}:
            assert c.valid, (name, c.reason)


def test_without_seccomp_the_namespaces_still_hold(world, secrets_env, monkeypatch):
    """Defence in depth: with the filter off, the network namespace alone keeps sockets in."""
    values, listener = secrets_env
    monkeypatch.setattr(jail_module, "filter_bytes", lambda: None)
    cands, _ = run_slot(world, {n: source(ATTACKS[n], values) for n in ("socket", "signal_parent")})
    show(cands, 0)
    assert "connect 1.1.1.1:53: OSError: [Errno 101] Network is unreachable" in saw(cands["socket"])
    assert "Connection refused" in saw(cands["socket"]) and connections(listener) == []
    assert "ptrace host: 'ptrace=-1 errno=No such process'" in saw(cands["signal_parent"])


def test_a_later_run_finds_nothing_an_earlier_one_left(world, secrets_env):
    values, _ = secrets_env
    run_slot(world, {"writer": source(ATTACKS["write_shared"], values)})
    cands, _ = run_slot(world, {"reader": source(READ_SHARED, values)})
    show(cands, 0)
    seen = saw(cands["reader"])
    assert "left for a later run" not in seen and seen.count("Error") == 5


def test_control_without_the_jail_the_attacks_succeed(world, secrets_env, monkeypatch):
    """The same attackers, unjailed (plain interpreter, host uid, no rlimits): they win."""
    values, listener = secrets_env

    def bare(self, algo, limits):
        return [GUEST_PYTHON, "-I", "-S", "-B", str(algo / "boot.py")]

    def start(self, argv, limits):
        import subprocess
        with open(self.stderr_path, "wb") as err:
            return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)

    monkeypatch.setattr(Jailed, "argv", bare)
    monkeypatch.setattr(Jailed, "_start", start)
    monkeypatch.setattr(jail_module, "jail_problem", lambda: None)
    names = ("socket", "read_database", "read_key_file", "read_environ", "read_other_code", "write_shared")
    programs = {n: source(ATTACKS[n], values) for n in names}
    programs["honest"] = source(HONEST, values)
    cands, elapsed = run_slot(world, programs)
    show(cands, elapsed)
    assert connections(listener) == [TOKEN.encode()]
    for name in ("read_database", "read_key_file", "read_environ"):
        assert TOKEN in saw(cands[name]), name
    assert VICTIM in saw(cands["read_other_code"])
    assert Path(values["HOSTTMP"], values["MARK"]).exists()


def test_a_program_block_over_the_gas_budget_is_refused(world, secrets_env):
    """The slot's gas budget binds a submitted program like any builder (o9 keeps 21,000 of 150,000)."""
    values, _ = secrets_env
    sub = BuilderSubmission("heavy", None, None, None, Program("python", source(HONEST, values)))
    report = run_auction(AuctionInput(world, [sub], 0, 150_000, Limits(budget_ms=BUDGET_MS)))
    assert report.builders[0].reason == "block uses 200000 gas, more than the 129000 left for M \\ S"
