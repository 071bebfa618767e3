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
abort after learning it (no fairness). Feeding other shares than the bidders' in *both*
executions alike is caught by ``binding``: after the inputs a coin toss fixes a sketch
matrix, both circuits also output the masked sketch σ of the bids (XOR only), and each
party proves its part of σ with the MACs the bidders dealt (``_sketch_send`` /
``_sketch_check``; docs/privacy.md, *Against a malicious party*).
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
from mevauction.privacy.twoparty import binding, execution, garble
from mevauction.privacy.twoparty.link import GARBLER, NAMES, Channel


class Cheating(ValueError):
    """The peer deviated: the message names it."""


@dataclass(frozen=True)
class Dual:
    garbled: tuple  # the execution this party garbled (execution.garbler_prepare's state)
    evaluated: tuple  # the one it evaluates (execution.evaluator_prepare's state)
    bind: binding.Rows | None = None  # the job's MACs, parsed before the deadline when they came with it

    def with_rows(self, rows: np.ndarray) -> Dual:
        """The same preparation with this party's shares replaced (bidder intake; their MACs
        are parsed at the close)."""
        return replace(self, garbled=(*self.garbled[:2], rows, *self.garbled[3:]),
                       evaluated=(rows, *self.evaluated[1:]), bind=None)


def _peer(role: int) -> str:
    return NAMES[1 - role]


def prepare(role: int, job: dict, link: Channel) -> Dual:
    """Both executions' bid-independent part, party 0's circuit first."""
    try:
        if role == GARBLER:
            g = execution.garbler_prepare(job, link, checked=True)
            e = execution.evaluator_prepare(job, link, checked=True)
        else:
            e = execution.evaluator_prepare(job, link, checked=True)
            g = execution.garbler_prepare(job, link, checked=True)
    except Cheating:
        raise
    except ValueError as exc:
        raise Cheating(f"from the {_peer(role)}: {exc}") from exc
    own = g[2]
    bind = binding.parse(job, len(own), own.shape[1] - binding.SKETCH) if execution.bound(job) else None
    return Dual(g, e, bind)


@dataclass(frozen=True)
class Inputs:
    labels: np.ndarray  # the active input labels of the execution this party evaluates
    seed: bytes  # the coin toss's result (both halves): fixes the sketch matrix (``binding``)


def inputs(role: int, state: Dual, link: Channel) -> Inputs:
    """The shares' labels of both executions, with the coin toss for the sketch riding on them.

    Three flights: both d's cross at once (small, each with a commitment to a coin half),
    then execution 0's labels, then execution 1's (party 1 reads before it sends, so two
    large sends never meet). Each party opens its half with its labels: party 0's opens
    after party 1's d, party 1's after party 0's labels, so M is fixed once every input of
    execution 0 and of party 0 is — party 1's labels for execution 1 may follow M, but the
    equality test makes that execution's sketch equal to execution 0's (``binding``)."""
    seed, commitment = binding.coin()
    try:
        link.send(execution.evaluator_choices(state.evaluated))
        link.send(commitment)
        if role == GARBLER:
            theirs = link.recv()
            committed = link.recv(64)
            link.send(execution.garbler_labels(state.garbled, theirs))
            link.send(seed)
            labels = execution.evaluator_labels(state.evaluated, link.recv())
            peer_seed = link.recv(64)
        else:
            mine = execution.garbler_labels(state.garbled, link.recv())
            committed = link.recv(64)
            labels = execution.evaluator_labels(state.evaluated, link.recv())
            peer_seed = link.recv(64)
            link.send(mine)
            link.send(seed)
    except ValueError as exc:
        raise Cheating(f"from the {_peer(role)}: {exc}") from exc
    if not binding.opens(peer_seed, committed):
        raise Cheating(f"the {_peer(role)} opened another coin than it committed to")
    halves = (seed, peer_seed) if role == GARBLER else (peer_seed, seed)
    return Inputs(labels, halves[0] + halves[1])


def _digest(role: int, state: Dual, active: dict[str, np.ndarray], bits: dict[str, np.ndarray],
            sketch: tuple[bytes, bytes] = (b"", b"")) -> bytes:
    g, outs = state.garbled[0], state.garbled[3]
    mine = b"".join((outs[k] ^ garble._mask(bits[k], np.broadcast_to(g.delta, outs[k].shape))).tobytes() for k in outs)
    held = b"".join(np.ascontiguousarray(v).tobytes() for v in active.values())
    mine, held = mine + sketch[0], held + sketch[1]
    first, second = (mine, held) if role == GARBLER else (held, mine)  # execution 0's labels first
    return hashlib.sha256(b"mevauction/2pc/dualex" + first + second).digest()


@dataclass(frozen=True)
class _Sketch:
    """This party's side of the binding check (``binding``), from M on."""

    rows: binding.Rows
    m: binding.Matrix
    zero: np.ndarray  # (s,) the sketch wires' zero-label words in the execution it garbled
    active: np.ndarray  # (s,) their active-label words in the one it evaluates
    key_sketch: np.ndarray  # (s,) the sketch of its keys on the peer's rows
    claims: np.ndarray  # (rows, s) bits: its own rows' claims


def _sketch_send(role: int, state: Dual, inp: Inputs, link: Channel, job: dict) -> _Sketch:
    """Once M is fixed: the sketch wires of both executions (XOR only), and to the peer the
    decoding bits of the sketch wires it evaluates, this party's claims and their tags."""
    x, own = state.garbled[1], state.garbled[2]
    rows, length = own.shape
    w = length - binding.SKETCH
    r = state.bind if state.bind is not None else binding.parse(job, rows, w)
    m = binding.matrix(inp.seed, rows, w)
    words = np.stack([x[..., 0], inp.labels[..., 0], r.tags, r.keys], axis=2)
    zero, active, tags, key_sketch = binding.sketch(m, words).T
    claims = binding.claims(m, own)
    decode = np.packbits((zero & np.uint64(1)).astype(np.uint8), bitorder="little")
    link.send(decode.tobytes() + np.packbits(claims, bitorder="little").tobytes() + tags.tobytes())
    return _Sketch(r, m, zero, active, key_sketch, claims)


def _sketch_recv(role: int, state: Dual, sk: _Sketch, link: Channel) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                                 tuple[bytes, bytes]]:
    """The peer's decoding bits, claims and tags; σ as this party decodes it; the sketch
    wires' part of the equality strings."""
    s, rows = binding.SKETCH, len(sk.claims)
    raw = link.recv(1 << 24)
    nd, nc = (s + 7) // 8, (rows * s + 7) // 8
    if len(raw) != nd + nc + 8 * s:
        raise Cheating(f"the {_peer(role)} sent a malformed sketch message")
    decode = np.unpackbits(np.frombuffer(raw[:nd], np.uint8), bitorder="little")[:s]
    peer_claims = np.unpackbits(np.frombuffer(raw[nd:nd + nc], np.uint8), bitorder="little")[:rows * s]
    peer_tags = np.frombuffer(raw[nd + nc:], np.uint64)
    sigma = (sk.active & np.uint64(1)).astype(np.uint8) ^ decode
    delta = state.garbled[0].delta[0]
    mine = sk.zero ^ np.where(sigma.astype(bool), delta, np.uint64(0))
    return sigma, peer_claims.reshape(rows, s), peer_tags, (mine.tobytes(), sk.active.tobytes())


def _sketch_check(role: int, sk: _Sketch, sigma: np.ndarray, peer_claims: np.ndarray, peer_tags: np.ndarray) -> None:
    """The peer's claims verify under the keys this party holds, and add up to the circuits' σ."""
    pub = sk.rows.public
    if (peer_claims[pub] != binding.claims(sk.m, sk.rows.peer_bits)[pub]).any():
        raise Cheating(f"the {_peer(role)} claimed another sketch for a public row")
    if (binding.expected_tags(sk.rows, sk.key_sketch, peer_claims) != peer_tags).any():
        raise Cheating(f"the {_peer(role)}'s sketch claims fail the MACs the bidders dealt (a forged tag); "
                       "nothing is output")
    if (np.bitwise_xor.reduce(sk.claims ^ peer_claims, axis=0) != sigma).any():
        raise Cheating(f"the {_peer(role)} fed other shares than the bidders dealt it: the circuits' sketch "
                       "of the bids is not the authenticated one; nothing is output")


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


def finish(role: int, state: Dual, inp: Inputs, link: Channel, job: dict,
           endorse: Callable[[dict], dict | None]) -> tuple[dict, dict | None, dict | None]:
    """Evaluate, decode, test equality, check the inputs' binding, exchange signed outcomes.

    Returns the outcome, this party's statement and the peer's (each signed, if keys)."""
    sk = _sketch_send(role, state, inp, link, job) if execution.bound(job) else None  # a bad job: ValueError
    try:
        active = execution.evaluate(state.evaluated, inp.labels)
        outcome, bits = execution.decode_active(state.evaluated, job, active)
    except ValueError as exc:
        raise Cheating(f"from the {_peer(role)}: {exc}") from exc
    agreed = json.dumps(outcome, sort_keys=True)
    extra: tuple[bytes, bytes] = (b"", b"")
    if sk is not None:
        sigma, peer_claims, peer_tags, extra = _sketch_recv(role, state, sk, link)
    if not equal(role, _digest(role, state, active, bits, extra), link):
        raise Cheating(f"equality check failed: the {_peer(role)} garbled another function, used other shares "
                       "in the two executions or misreported its output; nothing is output")
    if sk is not None:
        _sketch_check(role, sk, sigma, peer_claims, peer_tags)
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
