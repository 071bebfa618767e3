"""The jail's per-run cgroup (sandbox/cgroup.py): a memory cap over the whole process
tree, which per-process RLIMIT_AS cannot give. Four children each stay under the
address-space rlimit (256 MiB) but together touch 600 MiB: without the group all four
finish (the control arm: the same run with no cgroup), with it the kernel kills some.
The group is gone after the run."""

from __future__ import annotations

import pytest

from mevauction.intake.scenario import load_scenario
from mevauction.sandbox import cgroup
from mevauction.sandbox.jail import Limits, Program, jail_problem, wait_teardown
from mevauction.sandbox.runner import run_algorithms
from repo_paths import ROOT

pytestmark = [
    pytest.mark.skipif(jail_problem() is not None, reason=f"no jail here: {jail_problem()}"),
    pytest.mark.skipif(cgroup.layout() is None, reason="no writable cgroup here (rlimits only)"),
]

TREE_BOMB = b"""
import os

import mevalgo

def build(slot, sim):
    kids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            b = bytearray(150 << 20)
            for j in range(0, len(b), 4096):
                b[j] = 1
            os._exit(0)
        kids.append(pid)
    whole = sum(1 for p in kids if os.waitpid(p, 0)[1] == 0)
    return [], whole  # the bid reports how many children finished

mevalgo.run(build)
"""


def run(monkeypatch, grouped: bool):
    world = load_scenario(ROOT / "examples" / "table1.json").world
    if not grouped:
        monkeypatch.setattr("mevauction.sandbox.jail.run_group", lambda *a: None)
    limits = Limits(budget_ms=4000, group_memory_bytes=256 << 20)
    out = run_algorithms(world, [("bomb", Program("python", TREE_BOMB))], ["o1"], limits)["bomb"]
    assert wait_teardown()
    return out


def test_group_caps_the_whole_tree(monkeypatch):
    made: list[cgroup.RunGroup] = []  # this run's groups only: other workers' jails make and remove theirs

    def recording(*args):
        group = cgroup.run_group(*args)
        made.extend([group] if group else [])
        return group

    monkeypatch.setattr("mevauction.sandbox.jail.run_group", recording)
    capped = run(monkeypatch, grouped=True)
    seen = capped.submission.bid if capped.submission else f"no submission: {capped.reason}"
    print("with the cgroup, children that finished:", seen)
    assert made, "the jail made no cgroup"
    assert capped.submission is None or capped.submission.bid < 4
    assert not [d for g in made for d in g.dirs if d.exists()]  # removed
    free = run(monkeypatch, grouped=False)
    print("rlimits only, children that finished:", free.submission and free.submission.bid, free.reason)
    assert free.submission is not None and free.submission.bid == 4  # the control arm: rlimits alone allow it
