"""Dual execution: the two-party backend against one malicious party.

Mohassel–Franklin (PKC 2006) and Huang–Katz–Evans ("Quid-Pro-Quo-tocols", S&P 2012):
the job's circuit is garbled twice, once by each party (execution 0 garbled by party 0,
execution 1 by party 1), each evaluated by the other with the same shares, both with the
OT extension under KOS's check (``execution``, ``checked=True``). Each party decodes the
execution it evaluated itself, from the garbler's decoding bits, and so holds a candidate
outcome v. Then an equality test over output labels: party p's string is, for the execution
it garbled, the labels that encode its own v (it knows both labels of every wire) and, for
the one it evaluated, the active labels it holds. Both strings are equal iff both
executions gave the same v and neither party deviated in decoding; a party that garbled
another function, evaluated with other shares than it garbled with, or misreports its v,
makes them differ unless the wrong execution happens to give the right outcome.

The test: each commits to H(its string) (salted hash), then both open. A party can only
compute the other's string for the one v it decoded (the other execution's labels for any
other value are unknown to it), so the hashes say whether the outcomes agree and nothing
else. On a mismatch both parties abort and name the other:
each knows it ran honestly. Then each signs the agreed outcome for the other
(``endorse``); a party that reports another outcome to the auctioneer contradicts a
signature its peer holds, and the auctioneer names it (``local.finish_pair``).

Leakage: a cheater learns the true outcome (from the honest party's circuit) and, from
whether the run aborts, one bit: whether its deviation left the outcome unchanged on the
real bids (a predicate it chose). It cannot change the published outcome. It can still
abort after learning it (no fairness) and, as in any 2PC, feed other shares than the
bidders' in *both* executions alike (see docs/privacy.md, *Against a malicious party*).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mevauction.privacy import messages
from mevauction.privacy.twoparty import execution, garble
from mevauction.privacy.twoparty.link import GARBLER, NAMES, Channel


class Cheating(ValueError):
    """The peer deviated: the message names it."""


@dataclass(frozen=True)
class Dual:
    garbled: tuple  # the execution this party garbled (execution.garbler_prepare's state)
    evaluated: tuple  # the one it evaluates (execution.evaluator_prepare's state)

    def with_rows(self, rows: np.ndarray) -> Dual:
        """The same preparation with this party's shares replaced (bidder intake)."""
        return replace(self, garbled=(*self.garbled[:2], rows, *self.garbled[3:]),
                       evaluated=(rows, *self.evaluated[1:]))


def _peer(role: int) -> str:
    return NAMES[1 - role]


def prepare(role: int, job: dict, link: Channel) -> Dual:
    """Both executions' bid-independent part, party 0's circuit first."""
    try:
        if role == GARBLER:
            g = execution.garbler_prepare(job, link, checked=True)
            return Dual(g, execution.evaluator_prepare(job, link, checked=True))
        e = execution.evaluator_prepare(job, link, checked=True)
        return Dual(execution.garbler_prepare(job, link, checked=True), e)
    except Cheating:
        raise
    except ValueError as exc:
        raise Cheating(f"from the {_peer(role)}: {exc}") from exc


def inputs(role: int, state: Dual, link: Channel) -> np.ndarray:
    """The shares' labels of both executions; returns those of the one this party evaluates.

    Three flights: both d's cross at once (small), then execution 0's labels, then
    execution 1's (party 1 reads before it sends, so two large sends never meet)."""
    try:
        link.send(execution.evaluator_choices(state.evaluated))
        if role == GARBLER:
            link.send(execution.garbler_labels(state.garbled, link.recv()))
            return execution.evaluator_labels(state.evaluated, link.recv())
        mine = execution.garbler_labels(state.garbled, link.recv())
        labels = execution.evaluator_labels(state.evaluated, link.recv())
        link.send(mine)
        return labels
    except ValueError as exc:
        raise Cheating(f"from the {_peer(role)}: {exc}") from exc


def _digest(role: int, state: Dual, active: dict[str, np.ndarray], bits: dict[str, np.ndarray]) -> bytes:
    g, outs = state.garbled[0], state.garbled[3]
    mine = b"".join((outs[k] ^ garble._mask(bits[k], np.broadcast_to(g.delta, outs[k].shape))).tobytes() for k in outs)
    held = b"".join(np.ascontiguousarray(v).tobytes() for v in active.values())
    first, second = (mine, held) if role == GARBLER else (held, mine)  # execution 0's labels first
    return hashlib.sha256(b"mevauction/2pc/dualex" + first + second).digest()


def equal(role: int, digest: bytes, link: Channel) -> bool:
    """Both commit (salted hash) at once, then both open: neither can answer after seeing
    the other's hash. Two flights; a party that will not open only stops the run."""
    salt = secrets.token_bytes(16)
    link.send(hashlib.sha256(salt + digest).digest())
    commitment = link.recv(64)
    link.send(salt + digest)
    opened = link.recv(64)
    if len(opened) != 48 or hashlib.sha256(opened).digest() != commitment:
        raise Cheating(f"the {_peer(role)} opened another value than it committed to")
    return opened[16:] == digest


def finish(role: int, state: Dual, labels: np.ndarray, link: Channel, job: dict,
           endorse: Callable[[dict], dict | None]) -> tuple[dict, dict | None, dict | None]:
    """Evaluate, decode, test equality, exchange signed outcomes.

    Returns the outcome, this party's statement and the peer's (each signed, if keys)."""
    try:
        active = execution.evaluate(state.evaluated, labels)
        outcome, bits = execution.decode_active(state.evaluated, job, active)
    except ValueError as exc:
        raise Cheating(f"from the {_peer(role)}: {exc}") from exc
    agreed = json.dumps(outcome, sort_keys=True)
    if not equal(role, _digest(role, state, active, bits), link):
        raise Cheating(f"equality check failed: the {_peer(role)} garbled another function, used other shares "
                       "in the two executions or misreported its output; nothing is output")
    mine = endorse(outcome)
    link.send(json.dumps(mine).encode())
    theirs: Any = json.loads(link.recv(1 << 24))
    if mine is not None and not endorses(theirs, 1 - role, agreed):
        raise Cheating(f"the {_peer(role)} signed another outcome than the one both executions agreed on")
    return json.loads(agreed), mine, theirs


def endorses(st: Any, server: int, outcome: str | None = None) -> bool:
    """Whether ``st`` is party ``server``'s self-consistently signed statement (of ``outcome``)."""
    if not isinstance(st, dict) or st.get("server") != server or not isinstance(st.get("signature"), str):
        return False
    body = {k: v for k, v in st.items() if k != "signature"}
    try:
        signer = messages.recover(messages.statement_digest(body), st["signature"])
    except (ValueError, TypeError):
        return False
    if signer is None or signer.lower() != str(st.get("signer", "")).lower():
        return False
    return outcome is None or json.dumps(st.get("outcome"), sort_keys=True) == outcome
