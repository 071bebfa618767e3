"""Half of a large group's shuffles in a forked child changes no result (building/forked.py).

The default block o* (orders and bids), every refund r_i and every counterfactual block
o_{-i} with the fork are compared with the same slot solved in one process, on amm
slots with large groups and on the evm world (whose pyrevm state reaches the child
only by the fork). A child that fails must leave the result unchanged too.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mevauction.building import forked
from mevauction.building.default import DefaultBuilder
from mevauction.intake import workloads
from mevauction.worlds import build_world
from property_settings import examples

SETTINGS = settings(max_examples=examples(8), deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: the family is never forked")


def solution(world, seed):
    sol = DefaultBuilder(8, seed).solve(world, list(world.orders))
    return sol.block.orders, dict(sol.block.bids), sol.refunds, sol.counterfactual


def both_ways(doc, seed, monkeypatch, forks: list[int]):
    """The slot solved with forking switched off, then on; counts the forks made."""
    monkeypatch.setenv("MEVAUCTION_FORK_FAMILY", "0")
    one = solution(build_world(doc), seed)
    monkeypatch.setenv("MEVAUCTION_FORK_FAMILY", "1")
    monkeypatch.setattr(forked, "MIN_HALF_S", 0)  # fork every large group, however fast its shuffles
    real = forked.Forked

    def counted(work):
        forks.append(1)
        return real(work)

    monkeypatch.setattr(forked, "Forked", counted)
    two = solution(build_world(doc), seed)
    return one, two


def amm_slot(seed, orders, profile="contested"):
    return workloads.generate("amm", orders, seed, **workloads.profile_options("amm", profile))


@pytest.mark.parametrize("seed", [4, 9])
def test_contested_slots_equal_with_the_fork(seed, monkeypatch):
    forks: list[int] = []
    one, two = both_ways(amm_slot(seed, 200), seed, monkeypatch, forks)
    assert forks, "no group was large enough to fork: the test would compare nothing"
    assert one == two and one[2]


@SETTINGS
@given(st.integers(0, 10**6), st.integers(20, 120), st.sampled_from(["mainnet", "contested"]))
def test_random_slots_equal_with_the_fork(seed, orders, profile):
    with pytest.MonkeyPatch.context() as monkeypatch:
        one, two = both_ways(amm_slot(seed, orders, profile), seed, monkeypatch, [])
        assert one == two


@pytest.mark.parametrize("misbehaves", [lambda: os._exit(3), lambda: time.sleep(3600)], ids=["dies", "hangs"])
def test_a_child_that_dies_or_hangs_leaves_the_result_unchanged(monkeypatch, misbehaves):
    """Its half is done here instead: a dead child at once, a stuck one once killed."""
    parent = os.getpid()
    real = forked._best_of

    def in_the_child(*args):
        if os.getpid() != parent:
            misbehaves()
        return real(*args)

    monkeypatch.setattr(forked, "_best_of", in_the_child)
    monkeypatch.setattr(forked, "JOIN_SLACK_S", 0.2)
    forks: list[int] = []
    started = time.monotonic()
    one, two = both_ways(amm_slot(4, 200), 4, monkeypatch, forks)
    assert forks and one == two
    assert time.monotonic() - started < 60  # not an hour


@pytest.mark.slow  # an 80-order evm slot solved twice (≈ 4 s)
def test_an_evm_slot_equals_with_the_fork(monkeypatch):
    """Also the test that catches a merge breaking ties the other way (a counterfactual
    block of equal value taken from the child's half): amm slots rarely tie."""
    from mevauction.intake.workloads.evm import generate

    forks: list[int] = []
    one, two = both_ways(generate(80, seed=3), 3, monkeypatch, forks)
    assert forks and one == two and one[2]
