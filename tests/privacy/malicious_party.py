"""A two-party-backend party that cheats, run as its own process by the attack tests only:

    python malicious_party.py ATTACK ROLE ARGS...     (ARGS as for ``twoparty.party``)

It patches, in this process alone, an otherwise real party:

- ``second-as-winner``: the circuit it garbles outputs winner ⊕ MASK (MEVAUCTION_TEST_MASK,
  default 3: with bids [30, 90, 60] the runner-up's index, 2, instead of the winner's, 1);
- ``price-minus``: the circuit it garbles outputs price ⊕ 2^j for the bit j of
  MEVAUCTION_TEST_DELTA (default 2^4 = 16), i.e. price − δ when that bit of the price is set;
- ``lie-to-auctioneer``: reports price − 1 to the auctioneer (the run itself honest);
- ``lie-to-peer``: signs and reports price − 1 (its statement too);
- ``other-input``: evaluates with the top bit of its last row's share flipped (with bids
  [30, 90, 60] the last bid jumps past the winner's), garbles with its true shares:
  different inputs in the two executions.
- ``substitute``: flips the top bit of its first row's share in *both* executions (with
  bids [30, 90, 60] bidder 0 jumps past the winner: it wins at price 90), and claims the
  sketch of the share it was dealt (its tags verify, the sum with the circuits' σ does not);
- ``forge-tag``: the same substitution, but it claims the sketch of what it fed (so the
  claims add up to σ) and adds a guessed α to the tags of the sketch rows that changed.

Each deviation is the garbler's or the evaluator's half of the real code with one change:
the circuit's output wires relabelled (free XOR: the same tables, another function), or
another value sent.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from mevauction.privacy.twoparty import execution, garble, link, party

ATTACK = sys.argv[1]
MASK = int(os.environ.get("MEVAUCTION_TEST_MASK", "3"))
DELTA = int(os.environ.get("MEVAUCTION_TEST_DELTA", "16"))

honest_circuit = execution._circuit
honest_input_bits = execution._input_bits
honest_evaluator_prepare = execution.evaluator_prepare
honest_statement = party.statement
binding = getattr(execution, "binding", None)  # absent before the shares were bound (the attack still runs)
honest_send_json = link.Channel.send_json


def _flip(wires: np.ndarray, mask: int, delta: np.ndarray) -> np.ndarray:
    out = wires.copy()
    for i in range(out.shape[-2]):
        if mask >> i & 1:
            out[..., i, :] ^= delta  # the zero label now stands for 1: the decoded bit flips
    return out


def cheating_circuit(B, job, labels):
    outs = honest_circuit(B, job, labels)
    if isinstance(B, garble.Garbler):  # only what this party garbles
        name, mask = ("winner", MASK) if ATTACK == "second-as-winner" else ("price", DELTA)
        outs = {**outs, name: _flip(outs[name], mask, B.delta)}
    return outs


evaluating = False


def cheating_evaluator_prepare(job, peer, *args, **kw):
    global evaluating
    evaluating = True
    try:
        return honest_evaluator_prepare(job, peer, *args, **kw)
    finally:
        evaluating = False


def cheating_input_bits(job):
    bits = honest_input_bits(job)
    if evaluating:  # the execution this party evaluates: other shares than it garbles with
        bits = bits.copy()
        bits[-1, -1] ^= 1
    return bits


def substituted_input_bits(job):
    bits = honest_input_bits(job).copy()
    bits[0, execution._width(job) - 1] ^= 1  # the same flip in both executions
    return bits


def _dealt(bits, w):
    bits = bits.copy()
    bits[0, w - 1] ^= 1
    return bits


if binding is not None:
    honest_claims, honest_send = binding.claims, link.Channel.send

    def dealt_claims(m, bits):  # what the tags support: the sketch of the dealt share
        return honest_claims(m, _dealt(bits, m.w))

    def forging_send(self, data):
        """The sketch message: its claims are of the fed bits; where they differ from the dealt
        bits' claims, the tags get a guessed α (it cannot know the real one)."""
        frame = getattr(forging_send, "expect", None)
        if frame is not None and len(data) == frame[0]:
            m, bits = frame[1], frame[2]
            s, rows = binding.SKETCH, len(bits)
            nd, nc = (s + 7) // 8, (rows * s + 7) // 8
            diff = np.bitwise_xor.reduce(honest_claims(m, bits) ^ honest_claims(m, _dealt(bits, m.w)), axis=0)
            tags = np.frombuffer(data[nd + nc:], np.uint64).copy()
            guess = np.frombuffer(os.urandom(8), np.uint64)[0]
            tags[diff.astype(bool)] ^= guess
            data = data[:nd + nc] + tags.tobytes()
            forging_send.expect = None
        honest_send(self, data)

    honest_matrix = binding.matrix

    def watching_matrix(seed, rows, w):
        m = honest_matrix(seed, rows, w)
        forging_send.expect = ((binding.SKETCH + 7) // 8 + (rows * binding.SKETCH + 7) // 8 + 8 * binding.SKETCH,
                               m, watching_matrix.bits)
        return m


def _lower(outcome: dict) -> None:
    if isinstance(outcome.get("price"), int) and outcome["price"] > 0:
        outcome["price"] -= 1


def cheating_statement(role, job, outcome, key):
    _lower(outcome)
    return honest_statement(role, job, outcome, key)


def cheating_send_json(self, obj):
    if isinstance(obj, dict) and "statement" in obj and isinstance(obj.get("outcome"), dict):  # the report
        obj = {**obj, "outcome": dict(obj["outcome"])}
        _lower(obj["outcome"])
    honest_send_json(self, obj)


if ATTACK in ("second-as-winner", "price-minus"):
    execution._circuit = cheating_circuit
elif ATTACK == "other-input":
    execution._input_bits = cheating_input_bits
    execution.evaluator_prepare = cheating_evaluator_prepare
elif ATTACK in ("substitute", "forge-tag"):
    execution._input_bits = substituted_input_bits
    if binding is not None and ATTACK == "substitute":
        binding.claims = dealt_claims
    elif binding is not None:
        honest_prepare = execution.garbler_prepare

        def remembering_prepare(job, peer, *args, **kw):  # the fed bits, for the forged claims
            state = honest_prepare(job, peer, *args, **kw)
            watching_matrix.bits = state[2]
            return state

        execution.garbler_prepare = remembering_prepare
        binding.matrix = watching_matrix
        link.Channel.send = forging_send  # type: ignore[method-assign]
elif ATTACK == "lie-to-peer":
    party.statement = cheating_statement
elif ATTACK == "lie-to-auctioneer":
    link.Channel.send_json = cheating_send_json  # type: ignore[method-assign]
else:
    raise SystemExit(f"unknown attack {ATTACK!r}")

if __name__ == "__main__":
    party.main(sys.argv[2:])
