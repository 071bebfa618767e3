"""Jails are torn down off the auction's critical path, and still certainly: a run that
returns before its late jails are reaped leaves no process and no directory behind, and
a block valued as it arrived is the block the mechanism would value afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario
from mevauction.sandbox.jail import Limits, Program, jail_problem, wait_teardown
from mevauction.sandbox.runner import run_algorithms

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}"),
]

SPIN = b"import mevalgo\nwhile True:\n    pass\n"
SUBMIT = b"import mevalgo\nmevalgo.run(lambda slot, sim: ([o.id for o in slot.orders], 0))\n"


def _jails_of_this_process() -> list[int]:
    """Pids of this process's children that are jails (bwrap running the guest's boot)."""
    import os

    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"/algo/boot.py" in cmd:
            found.append(int(entry.name))
    return found


def test_late_and_done_jails_are_reaped_and_removed_after_the_result(jail_dirs):
    world = parse_scenario(workloads.generate("amm", 20, 0)).world
    ids = list(world.orders)
    runs = run_algorithms(world, [("spin", Program("python", SPIN)), ("done", Program("python", SUBMIT))],
                          ids, Limits(budget_ms=600), evaluate=world.evaluate)
    assert runs["spin"].reason is not None and runs["spin"].reason.startswith("timeout")
    assert runs["done"].submission is not None
    # Valued as it arrived: exactly what valuing it now gives.
    assert runs["done"].evaluated == world.evaluate(runs["done"].submission.sequence)
    assert wait_teardown(timeout=10.0)
    assert _jails_of_this_process() == [], "a jail outlived its teardown"
    assert len(jail_dirs) == 2 and not [d for d in jail_dirs if d.exists()], "a jail's directory was left behind"
