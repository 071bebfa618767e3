"""Dual execution in one process: the two parties' code on threads over a socket pair.

The real processes are in ``test_twoparty_malicious.py`` (attacks) and ``test_twoparty.py``
(twin equality); here the protocol itself, fast: equal to the clear mechanisms on random
bids, and a circuit garbled for another function fails the equality test at both ends.
"""

from __future__ import annotations

import socket
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mevauction.privacy import mechanisms as M
from mevauction.privacy.twoparty import binding, circuits, dualex, execution
from mevauction.privacy.twoparty.link import EVALUATOR, GARBLER, NAMES, Channel

CLEAR = {"first": lambda r, b, k: M.clear_first(b), "second": lambda r, b, k: M.clear_second(b),
         "builder": lambda r, b, k: M.clear_builder(r, b), "topk": lambda r, b, k: M.clear_topk(b, k)}


def run(mechanism: str, bids: list[int], reserve: int = 0, k: int = 1) -> list:
    """Both parties' (outcome or exception)."""
    rows = [reserve, *bids] if mechanism == "builder" else bids
    shares, macs = binding.split(rows, circuits.WIDTH)
    a, b = socket.socketpair()
    links = [Channel(a), Channel(b)]  # type: ignore[arg-type]
    out: list = [None, None]

    def party(role: int) -> None:
        job = {"mechanism": mechanism, "n": len(bids), "k": k, "shares": shares[role], "macs": macs[role]}
        try:
            state = dualex.prepare(role, job, links[role])
            labels = dualex.inputs(role, state, links[role])
            out[role] = dualex.finish(role, state, labels, links[role], job, lambda o: None)[0]
        except ValueError as exc:
            out[role] = exc
            links[role].close()  # as a party's abort does: the peer's next read fails

    threads = [threading.Thread(target=party, args=(r,), name=f"party-{r}") for r in (GARBLER, EVALUATOR)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


@settings(max_examples=15, deadline=None)
@given(mechanism=st.sampled_from(sorted(CLEAR)),
       bids=st.lists(st.one_of(st.integers(0, 3), st.integers(0, (1 << 64) - 1)), min_size=1, max_size=6),
       reserve=st.integers(0, (1 << 64) - 1), k=st.integers(1, 3))
def test_dual_execution_equals_the_clear_mechanism(mechanism, bids, reserve, k):
    k = min(k, len(bids))
    clear = CLEAR[mechanism](reserve, bids, k)
    for outcome in run(mechanism, bids, reserve, k):
        assert isinstance(outcome, dict), outcome
        if mechanism == "topk":
            assert (sorted(outcome["winners"]), outcome["price"]) == (clear.winners, clear.price)
        else:
            assert (outcome["winner"], outcome["price"]) == (clear.winner, clear.price)


@pytest.mark.parametrize("cheater", [GARBLER, EVALUATOR])
def test_a_circuit_for_another_function_fails_the_equality_test(monkeypatch, cheater):
    """One party garbles price ⊕ 1 (its output wire relabelled): its peer aborts, naming it."""
    honest = execution._circuit

    def circuit(B, job, labels):
        outs = honest(B, job, labels)
        if getattr(B, "delta", None) is not None and threading.current_thread().name == f"party-{cheater}":
            outs["price"] = outs["price"].copy()
            outs["price"][0] ^= B.delta
        return outs

    monkeypatch.setattr(execution, "_circuit", circuit)
    out = run("second", [30, 90, 61])
    honest_side = out[1 - cheater]
    assert isinstance(honest_side, dualex.Cheating), honest_side
    assert "equality check failed" in str(honest_side) and f"the {NAMES[cheater]}" in str(honest_side)
    assert not isinstance(out[cheater], dict)  # the cheater gets no outcome either
