"""One garbled execution of a job's circuit, as its two halves (garbler, evaluator).

Semi-honest (``security: "semi-honest"``) a job is one execution: party 0 garbles, party 1
evaluates and returns its output labels, and the garbler decodes them. Dual execution
(``dualex``) runs two, each party garbling one, with ``checked=True``: the OT extension
under the KOS correlation check and the outputs' decoding bits sent with the tables, so
each evaluator decodes alone and neither trusts the other's decoding.
"""

from __future__ import annotations

import json
import secrets

import numpy as np

from mevauction.privacy.twoparty import binding, circuits, double, garble, ot
from mevauction.privacy.twoparty.link import Channel

POINT = 33  # a compressed secp256k1 point


def bound(job: dict) -> bool:
    """Whether the job's inputs are bound to the dealt shares (``binding``): every dual-execution
    job but ``double`` (whose curves are shared by ``sealed run`` alone, without MACs)."""
    return job["mechanism"] != "double" and circuits.security(job) == "malicious"

def _width(job: dict) -> int:
    width = job.get("bits", circuits.WIDTH)
    if width not in circuits.WIDTHS:
        raise ValueError(f"bits must be one of {circuits.WIDTHS}")
    return int(width)


def _bits(shares: list[str], job: dict) -> np.ndarray:
    values, rows, width = [int(s, 16) for s in shares], _rows(job), _width(job)
    if len(values) != rows or any(not 0 <= v < 1 << width for v in values):
        raise ValueError(f"expected {rows} shares below 2^{width}")
    return circuits.to_bits(values, width)


def _k(job: dict) -> int:
    k = int(job.get("k", 1))
    if not 1 <= k <= int(job["n"]):
        raise ValueError("k must be between 1 and the number of bids")
    return k


def _rows(job: dict) -> int:
    return circuits.rows(job["mechanism"], int(job["n"]), job.get("capped") is True)


def _input_bits(job: dict) -> np.ndarray:
    """This party's input bits: its shares, and if ``bound`` its rows' sketch masks after them."""
    if job["mechanism"] == "double":
        return double.job_bits(job)
    bits = _bits(job["shares"], job)
    if not bound(job):
        return bits
    return np.concatenate([bits, binding.parse_masks(job, len(bits))], axis=1)


def _circuit(B, job: dict, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The job's circuit on its input wires (each party's shares XORed in: one wire per bit;
    the mask wires of a bound job feed only the sketch, ``binding``)."""
    if job.get("bound"):
        labels = labels[:, :_width(job)]
    if job["mechanism"] == "double":
        return double.auction(B, job["sides"], labels, np.zeros_like(labels))
    return circuits.auction(B, job["mechanism"], labels, np.zeros_like(labels), k=_k(job),
                            capped=job.get("capped") is True)


def _public(job: dict) -> dict:
    """What the circuit and the decoding need besides the shares (the evaluator keeps it)."""
    return {**{k: job[k] for k in ("mechanism", "n", "k", "capped", "sides", "grid", "bits") if k in job},
            "bound": bound(job)}


def _decode(job: dict, bits: dict[str, np.ndarray]) -> dict:
    mechanism = job["mechanism"]
    if mechanism == "double":
        return double.decode(job, bits)
    if mechanism == "topk":
        return {"winner": None, "price": circuits.from_bits(bits["price"]),
                "winners": [i for i, f in enumerate(bits["winners"].reshape(-1)) if f]}
    out: dict[str, int | None] = {"winner": circuits.from_bits(bits["winner"]),
                                  "price": circuits.from_bits(bits["price"])}
    if mechanism == "builder" and not int(bits["won"].reshape(-1)[0]):
        out["winner"] = None
    return out


def garbler_prepare(job: dict, peer: Channel, checked: bool = False) -> tuple:
    """Base OTs, the OT extension on random choices and the garbled circuit for n bids.

    Nothing here depends on a bid: the evaluator's OTs use random bits r (Beaver's OT
    precomputation), so at the deadline only b ⊕ r crosses, one bit per share bit.
    ``checked``: the extension passes KOS's check first, and the decoding bits follow the tables.
    """
    h = garble.FixedKeyHash()
    a = _input_bits(job)
    sender = ot.ExtSender()
    peer.send(b"".join(sender.setup(peer.recv(POINT))))
    g = garble.Garbler(h)
    m = a.size + (ot.KOS_EXTRA if checked else 0)
    q = sender.extend(peer.recv(), m)
    if checked:
        seed = secrets.token_bytes(16)
        peer.send(seed)
        if not sender.check(seed, peer.recv(64)):
            raise ValueError("its OT extension failed the correlation check (KOS)")
    w, corrections = ot.correlated_send(h, q[:a.size], sender.s, g.delta)
    x = g.inputs(a.shape)  # zero labels of the bid wires (bid = the two shares XORed)
    outs = _circuit(g, {**job, "bound": bound(job)}, x)
    peer.send(corrections.tobytes() + g.zero.tobytes() + g.table_bytes())
    if checked:
        peer.send(np.packbits(np.concatenate([garble.lsb(v).reshape(-1) for v in outs.values()]),
                              bitorder="little").tobytes())
    return g, x, a, outs, w


def garbler_inputs(state: tuple, peer: Channel) -> None:
    peer.send(garbler_labels(state, peer.recv()))


def garbler_labels(state: tuple, raw: bytes) -> bytes:
    """The evaluator holds w ⊕ r·Δ and sends d = b ⊕ r; x ⊕ w ⊕ (a ⊕ d)·Δ completes the bid's label."""
    g, x, a, _, w = state
    d = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
    if len(d) < a.size:
        raise ValueError("too few input bits")
    mine = x.reshape(-1, 2) ^ w ^ garble._mask(a.reshape(-1) ^ d[:a.size], np.broadcast_to(g.delta, w.shape))
    return mine.tobytes()


def garbler_finish(state: tuple, peer: Channel, job: dict) -> dict:
    g, outs = state[0], state[3]
    return _decode(job, check_outputs(outs, np.frombuffer(peer.recv(), dtype=np.uint64), g.delta))


def check_outputs(outs: dict[str, np.ndarray], got: np.ndarray, delta: np.ndarray) -> dict[str, np.ndarray]:
    """Decode the evaluator's output labels, refusing any that is neither of a wire's two labels."""
    bits, offset = {}, 0
    for name, zero in outs.items():
        z = zero.reshape(-1, 2)
        labels = got[offset:offset + z.size].reshape(-1, 2)
        offset += z.size
        if labels.shape != z.shape:
            raise ValueError("the evaluator returned too few output labels")
        is0, is1 = (labels == z).all(axis=1), (labels == (z ^ delta)).all(axis=1)
        if not (is0 | is1).all():
            raise ValueError("the evaluator returned a label that is not on its output wire")
        bits[name] = is1.astype(np.uint8)
    if offset != got.size:
        raise ValueError("the evaluator returned too many output labels")
    return bits


def evaluator_prepare(job: dict, peer: Channel, checked: bool = False) -> tuple:
    h = garble.FixedKeyHash()
    b = _input_bits(job)
    receiver = ot.ExtReceiver()
    peer.send(receiver.base.A_bytes)
    raw = peer.recv(ot.KAPPA * POINT)
    if len(raw) != ot.KAPPA * POINT:
        raise ValueError("base OT: wrong number of points")
    receiver.setup([raw[i:i + POINT] for i in range(0, len(raw), POINT)])
    m = b.size
    extra = ot.KOS_EXTRA if checked else 0  # random OTs the check sacrifices, dropped below
    r = np.frombuffer(secrets.token_bytes(m + extra), dtype=np.uint8) & 1  # random choices, not the shares
    u, t = receiver.extend(r)
    peer.send(u)
    if checked:
        peer.send(receiver.answer(peer.recv(16)))
    r, t = r[:m], t[:m]
    blob = np.frombuffer(peer.recv(), dtype=np.uint64)
    if len(blob) < 2 * m + 2:
        raise ValueError("too short a circuit")
    held = ot.correlated_receive(h, t, r, blob[:2 * m].reshape(m, 2))
    public = _public(job)
    if checked:
        public["decode"] = np.unpackbits(np.frombuffer(peer.recv(1 << 24), dtype=np.uint8), bitorder="little")
    return b, r, held, h, blob[2 * m:2 * m + 2].copy(), blob[2 * m + 2:], public


def evaluator_inputs(state: tuple, peer: Channel) -> np.ndarray:
    peer.send(evaluator_choices(state))
    return evaluator_labels(state, peer.recv())


def evaluator_choices(state: tuple) -> bytes:
    """d = b ⊕ r: the shares' bits masked by the precomputed OTs' random choices."""
    b, r = state[:2]
    return np.packbits(b.reshape(-1) ^ r, bitorder="little").tobytes()


def evaluator_labels(state: tuple, raw: bytes) -> np.ndarray:
    b, held = state[0], state[2]
    mine = np.frombuffer(raw, dtype=np.uint64).reshape(-1, 2)
    if mine.shape != held.shape:
        raise ValueError("the wrong number of input labels")
    return (mine ^ held).reshape(*b.shape, 2)


def evaluate(state: tuple, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The circuit's active output labels, from the garbled tables and the input labels."""
    h, zero, tables, public = state[3:]
    e = garble.Evaluator(tables, zero, h)
    outs = _circuit(e, public, labels)
    if e.gates * 4 != len(tables):
        raise ValueError("its garbled circuit does not match the circuit evaluated")
    return outs


def evaluator_finish(state: tuple, labels: np.ndarray, peer: Channel) -> dict:
    outs = evaluate(state, labels)
    peer.send(b"".join(np.ascontiguousarray(v).reshape(-1, 2).tobytes() for v in outs.values()))
    # the evaluator learns the outcome from the garbler's report (it cannot decode alone)
    return json.loads(peer.recv(1 << 24))


def decode_active(state: tuple, job: dict, outs: dict[str, np.ndarray]) -> tuple[dict, dict[str, np.ndarray]]:
    """Checked mode: the outcome from the active labels and the garbler's decoding bits."""
    decode, bits, at = state[6]["decode"], {}, 0
    for name, v in outs.items():
        p = garble.lsb(v)
        if at + p.size > len(decode):
            raise ValueError("too few decoding bits")
        bits[name] = p ^ decode[at:at + p.size].reshape(p.shape)
        at += p.size
    return _decode(job, bits), bits
