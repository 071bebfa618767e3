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
elif ATTACK == "lie-to-peer":
    party.statement = cheating_statement
elif ATTACK == "lie-to-auctioneer":
    link.Channel.send_json = cheating_send_json  # type: ignore[method-assign]
else:
    raise SystemExit(f"unknown attack {ATTACK!r}")

if __name__ == "__main__":
    party.main(sys.argv[2:])
