"""Jails started before the deadline (sandbox/warm.py) are as isolated as cold ones.

Against the real jail (and, for wasm, the real wasmtime in its jail), an attacker's view:

- a jail started for builder A runs only A's code: runs given each other's code (a
  swapped pair; the same as a builder's new version) never land in those jails;
- nothing crosses slots: the jails of two slots, started together so that the next
  slot's jail already waits while this slot's run writes everywhere it can, never see
  each other's files;
- the service's holder (service/algorithms.py) hands a slot's jails only to that slot,
  once, and tears down the jails of a slot that is over;
- what an algorithm does before the slot arrives (exit, spin, write to stdout) is
  reported like any failure, within the budget.
"""

from __future__ import annotations

import time

import pytest

from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.privacy import envelope, field, messages
from mevauction.sandbox.jail import Limits, Program, jail_problem, wait_teardown, wasm_jail_problem
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import run_algorithms
from mevauction.sandbox.warm import WarmJails
from mevauction.service import algorithms

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}"),
]
LIMITS = Limits(budget_ms=1500)
BOOT_S = 0.8  # a warm jail's boot (wasmtime's import and compile) under load, before its run


def submits(index: int) -> bytes:
    """A script that submits the slot's order at ``index``: which code ran shows in its block."""
    return f"import mevalgo\nmevalgo.run(lambda slot, sim: ([slot.orders[{index}].id], 5))\n".encode()


def module(index: int) -> Program:
    wasmtime = pytest.importorskip("wasmtime")
    data = f'(data (i32.const 0) "\\{index:02x}\\00\\00\\00")'
    return Program("wasm", wasmtime.wat2wasm(
        f"""(module (import "mev" "submit" (func $submit (param i32 i32 i32)))
  (memory (export "memory") 1) {data}
  (func (export "build") (result i32) (call $submit (i32.const 0) (i32.const 1) (i32.const -1)) (i32.const 0)))"""))


def sealing(rids: list[str]) -> dict[str, Sealing]:
    members = [envelope.public_key(messages.new_key()) for _ in range(3)]
    context = {"auction": "warm-test", "label": messages.address(messages.new_key()), "members": members,
               "threshold": field.threshold_for(3), "bits": 128, "modulus": field.modulus_for(128)}
    return {r: Sealing(context, lambda out: None) for r in rids}


@pytest.fixture(scope="module")
def slot():
    world = parse_scenario(workloads.generate("amm", 20, 0)).world
    return world, list(world.orders)


KINDS = ["python", "python-sealed", "wasm-sealed"]


def programs(kind: str) -> tuple[Program, Program]:
    if kind == "wasm-sealed":
        if wasm_jail_problem() is not None:
            pytest.skip(str(wasm_jail_problem()))
        return module(0), module(1)
    return Program("python", submits(0)), Program("python", submits(1))


@pytest.mark.parametrize("kind", KINDS)
def test_a_warm_jail_runs_only_the_code_of_the_builder_it_was_started_for(slot, kind):
    world, ids = slot
    code_a, code_b = programs(kind)
    seal = sealing(["A", "B"]) if kind.endswith("sealed") else None
    for given, expect in (({"A": code_a, "B": code_b}, {"A": ids[0], "B": ids[1]}),
                          # swapped: A's next version is B's code, and B's is A's
                          ({"A": code_b, "B": code_a}, {"A": ids[1], "B": ids[0]})):
        with WarmJails({"A": code_a, "B": code_b}, LIMITS, sealed=seal is not None) as warm:
            time.sleep(BOOT_S)
            runs = run_algorithms(world, list(given.items()), ids, LIMITS, seal, warm=warm)
        for rid in "AB":
            got = runs[rid]
            own = given[rid] is (code_a if rid == "A" else code_b)
            print(f"{kind}: {rid} given {'its own' if own else 'the other'} code: submitted "
                  f"{got.submission and got.submission.sequence}, warm {got.warm}, {got.reason}")
            assert got.submission is not None, got.reason
            assert list(got.submission.sequence) == [expect[rid]], f"{rid} ran code it was not given"
            # In a jail started ahead only when it is the code that jail was started with.
            assert got.warm == (given == {"A": code_a, "B": code_b})
    assert wait_teardown()


# Looks for another jail's files wherever it can write, before the slot and in its run,
# and leaves its own there: a block of one order says it found one.
SNOOP = b"""import os, secrets
import mevalgo
PLACES = ["/tmp", "/dev/shm", "/dev", "/run", "/var/tmp", "/algo", "/", "/proc/self/cwd"]
MINE = secrets.token_hex(8)

def foreign():
    found = []
    for d in PLACES:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found += [d + "/" + n for n in names if n.startswith("marker-") and n != "marker-" + MINE]
    return found

def leave():
    for d in PLACES:
        try:
            with open(os.path.join(d, "marker-" + MINE), "w") as f:
                f.write(MINE)
        except OSError:
            pass

SEEN = foreign()
leave()

def build(slot, sim):
    seen = SEEN + foreign()
    leave()
    return ([slot.orders[0].id] if seen else []), 0

mevalgo.run(build)
"""


def test_no_jail_sees_what_another_slots_run_left(slot):
    """Both slots' jails are started before the first runs: the second slot's jail waits
    while the first slot's run writes wherever it can; it must find nothing of it."""
    world, ids = slot
    prog = Program("python", SNOOP)
    first, second = WarmJails({"A": prog}, LIMITS), WarmJails({"A": prog}, LIMITS)
    time.sleep(BOOT_S)
    with first:
        one = run_algorithms(world, [("A", prog)], ids, LIMITS, warm=first)["A"]
    with second:
        two = run_algorithms(world, [("A", prog)], ids, LIMITS, warm=second)["A"]
    three = run_algorithms(world, [("A", prog)], ids, LIMITS)["A"]  # a cold one after both
    for n, r in enumerate((one, two, three), 1):
        print(f"slot {n}: warm {r.warm}, submitted {r.submission and list(r.submission.sequence)}, {r.reason}")
        assert r.submission is not None, r.reason
        assert list(r.submission.sequence) == [], f"slot {n}'s run found a file another slot's jail left"
    assert one.warm and two.warm and not three.warm
    assert wait_teardown()


def test_the_service_hands_a_slots_warm_jails_to_that_slot_once_and_tears_down_the_rest(slot, jail_dirs):
    world, ids = slot
    prog = Program("python", submits(0))
    algorithms.prestart(algorithms.SlotPrograms(LIMITS.budget_ms, {"A": prog}, 5), sealed=False)
    assert algorithms.claim_warm(algorithms.SlotPrograms(LIMITS.budget_ms, {"A": prog}, 6)) is None
    algorithms.prestart(algorithms.SlotPrograms(LIMITS.budget_ms, {"A": prog}, 6), sealed=False)  # 5's go
    warm = algorithms.claim_warm(algorithms.SlotPrograms(LIMITS.budget_ms, {"A": prog}, 6))
    assert warm is not None
    assert algorithms.claim_warm(algorithms.SlotPrograms(LIMITS.budget_ms, {"A": prog}, 6)) is None  # once
    time.sleep(BOOT_S)
    with warm:
        run = run_algorithms(world, [("A", prog)], ids, LIMITS, warm=warm)["A"]
        again = run_algorithms(world, [("A", prog)], ids, LIMITS, warm=warm)["A"]  # the slot run again
    assert run.warm and run.submission is not None
    assert not again.warm and again.submission is not None, "one warm jail served two runs"
    assert wait_teardown()
    deadline = time.monotonic() + 10
    while any(d.exists() for d in jail_dirs) and time.monotonic() < deadline:
        time.sleep(0.05)  # slot 5's jail is torn down once its start has finished
    # Slot 5's jail was removed, or never started (closed before the starter reached it).
    assert len(jail_dirs) in (2, 3) and not [d for d in jail_dirs if d.exists()], "a warm jail was left behind"


EARLY = {
    "exits before the slot": (b"raise SystemExit(0)\n", "exited without submitting"),
    "spins before the slot": (b"while True:\n    pass\n", "timeout"),
    "writes before the slot": (b"print('hello host')\nimport mevalgo\nmevalgo.run(lambda s, m: ([], 0))\n",
                               "protocol violation"),
}


@pytest.mark.parametrize("name", list(EARLY))
def test_what_a_warm_jail_does_before_the_slot_is_reported_within_the_budget(slot, name):
    world, ids = slot
    code, reason = EARLY[name]
    prog = Program("python", code)
    with WarmJails({"A": prog}, LIMITS) as warm:
        time.sleep(BOOT_S)
        start = time.monotonic()
        got = run_algorithms(world, [("A", prog)], ids, LIMITS, warm=warm)["A"]
        took = time.monotonic() - start
    print(f"{name}: {got.reason} after {took * 1000:.0f} ms")
    assert got.warm and got.submission is None and got.reason is not None and got.reason.startswith(reason)
    assert took < LIMITS.budget_ms / 1000 + 0.5
    assert wait_teardown()
