"""wasm modules in a sealed slot (issue 13): the module runs in the jail, under its host
program (``guest/wasmhost.py``), and its bid is sealed there like a Python script's.

Against the real jail, the real wasmtime and the project's committee code: the host's
whole view of the run (the slot message, every request line and reply, the sealed
output, the results) never holds the module's chosen bid in any form, and the
committee's opening of the envelopes gives exactly that bid. Hostile modules in a
sealed slot are still contained, each with its reason, the fuel and memory limits
still bind, and a Python script that claims to be a failing module is a protocol
violation.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from test_sealed_jail import committee, opened, record_host_view

from mevauction.intake.scenario import load_scenario
from mevauction.sandbox import jail
from mevauction.sandbox.jail import Limits, Program, jail_problem
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import run_algorithms
from mevauction.sandbox.wasm import wasm_problem
from repo_paths import ROOT
from wasm_modules import build_test_modules

pytestmark = [
    pytest.mark.slow,  # compiles C with clang, runs jails
    pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}"),
    pytest.mark.skipif(wasm_problem() is not None, reason=str(wasm_problem())),
    pytest.mark.skipif(shutil.which("clang") is None or shutil.which("wasm-ld") is None,
                       reason="clang/lld not installed (scripts/setup.sh installs them)"),
]
SEALED_BID = 1846203557120939517  # tests/sandbox/wasm/sealed_bidder.c
REFERENCE = ROOT / "examples" / "algorithms" / "wasm" / "greedy.wasm"


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    return build_test_modules(tmp_path_factory.mktemp("wasm"))


def sealed_run(programs, limits):
    world = load_scenario(ROOT / "examples" / "table1.json").world
    keys, context = committee()
    taken: dict[str, dict] = {}

    def sealing(name):
        return Sealing(context, lambda out: taken.setdefault(name, out) and None)
    runs = run_algorithms(world, programs, list(world.orders), limits, {n: sealing(n) for n, _ in programs})
    return keys, context, taken, runs


def test_a_modules_bid_is_sealed_in_the_jail_and_opens_to_its_amount(modules, monkeypatch):
    seen = record_host_view(monkeypatch)
    programs = [("bidder", Program("wasm", modules["sealed_bidder"])),
                ("greedy", Program("wasm", REFERENCE.read_bytes()))]
    keys, context, taken, runs = sealed_run(programs, Limits(budget_ms=3000))
    print({n: (r.reason, round(r.wall_ms, 1), r.requests) for n, r in runs.items()})
    for name in ("bidder", "greedy"):
        sub = runs[name].submission
        assert sub is not None and sub.bid is None and sub.sealed is not None, runs[name]
        assert runs[name].requests > 1  # its pushes crossed the jail's pipe
    # Control arm: the same modules in the service process on a plaintext slot — the same
    # block, and there the host does hold the bid, in the very form searched for below.
    world = load_scenario(ROOT / "examples" / "table1.json").world
    plain = run_algorithms(world, programs, list(world.orders))
    assert runs["greedy"].submission.sequence == plain["greedy"].submission.sequence
    assert plain["bidder"].submission.bid == SEALED_BID and str(SEALED_BID).encode() in repr(plain).encode()
    assert opened(keys, context, taken["bidder"]) == SEALED_BID
    # greedy.wasm bids "truthful": sealed as the block's value, simulated in the jail.
    assert opened(keys, context, taken["greedy"]) > 0
    view = b"\n".join(seen) + json.dumps(taken).encode() + repr(runs).encode()
    assert b'"submit"' in view and b'"sealed"' in view  # the view is really the protocol
    for form in (str(SEALED_BID), f"{SEALED_BID:x}", f"{SEALED_BID:#x}", SEALED_BID.to_bytes(8, "little").hex()):
        assert form.encode() not in view, form


def test_hostile_modules_in_a_sealed_slot_are_contained_with_their_reasons(modules):
    budget = 3000  # eleven jails start at once, each importing wasmtime; the two that submit also seal
    hostile = ("infinite_loop", "env_import", "wasi_write", "bad_pointer", "unknown_index", "memory_bomb",
               "host_call_flood", "huge_bid")
    programs = [(n, Program("wasm", modules[n], n)) for n in hostile]
    programs += [("not_a_module", Program("wasm", b"\0asm garbage")),
                 ("bidder", Program("wasm", modules["sealed_bidder"]))]
    _, _, taken, runs = sealed_run(programs, Limits(budget_ms=budget))
    for name, r in runs.items():
        print(f"--- {name}: {r.reason or 'submitted (sealed)'}; {r.wall_ms:.0f} ms; "
              f"builder's own detail: {r.stderr[-160:]!r}")
    assert all(r.wall_ms < budget + 500 for r in runs.values())
    assert runs["bidder"].submission is not None and "bidder" in taken
    assert runs["infinite_loop"].reason.startswith(("fuel limit", "timeout"))
    assert runs["host_call_flood"].reason.startswith("timeout")
    for name in ("env_import", "wasi_write"):
        assert runs[name].reason == "imports something other than the mev functions", runs[name].reason
    for name in ("bad_pointer", "unknown_index"):
        # The kind only: the module's own numbers stay in the builder's stderr, out of the report.
        assert runs[name].reason == "trap" and runs[name].submission is None, runs[name].reason
    assert "out of range" in runs["unknown_index"].stderr
    assert runs["not_a_module"].reason == "not a valid wasm module"
    # 2**256 - 1 wei does not fit the committee's 128-bit width: it cannot be sealed, and the
    # host program fails as a script's mevalgo would, with no bid.
    assert runs["huge_bid"].reason == "crashed" and "huge_bid" not in taken, runs["huge_bid"]
    assert "a sealed bid must be in [0, 2^128) wei" in runs["huge_bid"].stderr
    assert runs["memory_bomb"].submission is not None  # memory.grow is refused at the cap; it carries on


def test_fuel_still_binds_in_the_jail(modules):
    programs = [("loop", Program("wasm", modules["infinite_loop"]))]
    _, _, _, runs = sealed_run(programs, Limits(budget_ms=3000, wasm_fuel=1_000_000))
    assert runs["loop"].reason == "fuel limit (1000000 units)", runs["loop"]


def test_a_python_script_cannot_speak_for_a_module():
    script = 'import sys, json\nsys.stdin.readline()\nprint(json.dumps({"op": "abort", "kind": "fuel"}), flush=True)\n'
    _, _, _, runs = sealed_run([("script", Program("python", script.encode()))], Limits(budget_ms=2000))
    assert runs["script"].reason == "protocol violation", runs["script"]


def test_a_jail_where_wasmtime_does_not_load_is_reported_and_nothing_runs_unjailed(modules, monkeypatch):
    # A wasmtime package that the jail can read but that fails to import.
    broken = Path(tempfile.mkdtemp(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    broken.chmod(0o755)
    (broken / "__init__.py").write_text('raise ImportError("no libwasmtime for this interpreter")\n')
    (broken / "__init__.py").chmod(0o644)
    monkeypatch.setattr(jail, "wasmtime_dir", lambda: str(broken))
    jail.wasm_jail_problem.cache_clear()
    try:
        _, _, taken, runs = sealed_run([("m", Program("wasm", modules["sealed_bidder"]))], Limits(budget_ms=2000))
    finally:
        jail.wasm_jail_problem.cache_clear()
        shutil.rmtree(broken)
    print(runs["m"].reason)
    assert runs["m"].reason == ("sandbox unavailable: wasmtime does not load in the jail's /usr/bin/python3: "
                                "ImportError: no libwasmtime for this interpreter"), runs["m"].reason
    assert runs["m"].submission is None and not taken
