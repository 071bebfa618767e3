"""Dual execution in one process: the two parties' code on threads over a socket pair.

The real processes are in ``test_twoparty_malicious.py`` (attacks) and ``test_twoparty.py``
(twin equality); here the protocol itself, fast: equal to the clear mechanisms on random
bids, and a circuit garbled for another function fails the equality test at both ends.
"""

from __future__ import annotations

import socket
import threading

import numpy as np
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
        except (ValueError, OSError) as exc:  # OSError: the peer aborted and closed the link
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


def _substituting(monkeypatch, cheater: int) -> None:
    """The cheater flips the top bit of its row-0 share in both executions (its input bits)."""
    honest = execution._input_bits

    def input_bits(job):
        bits = honest(job)
        if threading.current_thread().name == f"party-{cheater}":
            bits = bits.copy()
            bits[0, circuits.WIDTH - 1] ^= 1
        return bits

    monkeypatch.setattr(execution, "_input_bits", input_bits)


@pytest.mark.parametrize("cheater", [GARBLER, EVALUATOR])
def test_a_share_substituted_in_both_executions_fails_the_sketch_check(monkeypatch, cheater):
    """Both executions agree (bidder 0 at 30 + 2^63 would win at 90), the equality test
    passes, and the honest party's sketch check names the cheater; the cheater gets nothing."""
    _substituting(monkeypatch, cheater)
    out = run("second", [30, 90, 61])
    honest_side = out[1 - cheater]
    assert isinstance(honest_side, dualex.Cheating), honest_side
    assert f"the {NAMES[cheater]}" in str(honest_side) and "sketch" in str(honest_side)
    assert not isinstance(out[cheater], dict)


def test_without_the_sketch_check_the_substitution_wins(monkeypatch):
    """The same substitution with the honest party's check disabled: the wrong winner is
    published by both — what the check (and nothing else) stops."""
    _substituting(monkeypatch, GARBLER)
    monkeypatch.setattr(dualex, "_sketch_check", lambda *a: None)
    out = run("second", [30, 90, 61])
    assert all(isinstance(o, dict) and (o["winner"], o["price"]) == (0, 90) for o in out), out


def test_the_sketch_is_masked_and_the_mac_check_is_tight():
    """σ = ⊕ M_i·bid_i ⊕ r_i is balanced whatever the bids (the masks hide it); honest
    claims verify; any single flipped claim bit, or a tag off by anything but α, fails."""
    rows, w = 3, circuits.WIDTH
    for bids in ([0, 0, 0], [2**64 - 1] * 3):
        ones = np.zeros(binding.SKETCH)
        for t in range(300):
            (sh, macs) = binding.split(bids, w)
            r = [binding.parse({"macs": macs[p]}, rows, w) for p in (0, 1)]
            bits = [np.concatenate([binding._row_bits([int(x, 16) for x in sh[p]], w),
                                    binding.parse_masks({"macs": macs[p]}, rows)], axis=1) for p in (0, 1)]
            m = binding.matrix(t.to_bytes(32, "big"), rows, w)
            claims = [binding.claims(m, bits[p]) for p in (0, 1)]
            sigma = np.bitwise_xor.reduce(claims[0] ^ claims[1], axis=0)
            ones += sigma
            tags = binding.sketch(m, r[0].tags[..., None])[:, 0]
            keys = binding.sketch(m, r[1].keys[..., None])[:, 0]
            assert (binding.expected_tags(r[1], keys, claims[0]) == tags).all()  # party 1 checks party 0
            if t < 20:
                bad = claims[0].copy()
                bad[t % rows, t % binding.SKETCH] ^= 1
                assert (binding.expected_tags(r[1], keys, bad) != tags).any()
        assert (abs(ones - 150) < 5 * 75 ** 0.5).all(), ones


@pytest.mark.parametrize("rows,w", [(3, 64), (40, 64), (33, 128)])
def test_the_bit_sliced_sketch_is_the_xor_of_the_selected_words(rows, w):
    """``binding.sketch`` (a float product over slices, two bits per float) against its
    definition, row by row of M, across slice boundaries and for both widths."""
    rng = np.random.default_rng(rows)
    words = rng.integers(0, 2**64 - 1, size=(rows, w + binding.SKETCH, 3), dtype=np.uint64, endpoint=True)
    m = binding.matrix(bytes(32), rows, w)
    select = np.unpackbits(m.packed.reshape(binding.SKETCH, -1), axis=1, bitorder="little").astype(bool)
    dense = words[:, :w].reshape(rows * w, 3)
    want = np.array([np.bitwise_xor.reduce(dense[select[j]], axis=0) for j in range(binding.SKETCH)])
    want ^= np.bitwise_xor.reduce(words[:, w:], axis=0)  # the identity on the mask bits
    assert (binding.sketch(m, words) == want).all()
