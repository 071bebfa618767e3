"""What one TFHE step costs in concrete-python, for the design of the double auction
(``privacy.tfhe``): run in ``.venv-fhe``, one process, no parties.

- ``pass``: the first design's per-comparison work — K's n·G·bits encrypted share bits
  recombined with E's clear bits (a ⊕ b = s + a·t), masked and summed, then the sign of
  demand − supply by bit extraction (``fhe.bits``) at the precision the whole sum needs;
  also K's encryption of those bits.
- ``sign``: that bit extraction alone, on one fresh ciphertext of the same width.
- ``digits``: the comparison the backend runs now — K's share in digits of r bits, E's
  clear digits, a carry chain of (r+1)-bit lookups — for r = 1..4.

Wall seconds of repeated runs (the first run of a circuit loads its keys and is reported
apart), key sizes and bootstrap counts.

    .venv-fhe/bin/python benchmarks/tfhe_costs.py --shape 64x64x256 [--skip-pass]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from concrete import fhe
from concrete.compiler import ClientProgram
from concrete.compiler import Value as RawValue

CONFIG = fhe.Configuration(compress_input_ciphertexts=True, compress_evaluation_keys=True)


def _clear(circuit: fhe.Circuit, values: list[np.ndarray], first: int) -> list[fhe.Value]:
    info = circuit.server.client_specs.program_info
    prog = ClientProgram.create_simulated(info).get_client_circuit(info.function_list()[0])
    return [fhe.Value(prog.simulate_prepare_input(RawValue(np.asarray(v, dtype=np.int64)), i))
            for i, v in enumerate(values, start=first)]


def _runs(circuit: fhe.Circuit, args: list[fhe.Value], repeat: int) -> dict[str, float]:
    keys = circuit.client.evaluation_keys
    t0 = time.perf_counter()
    circuit.server.run(*args, evaluation_keys=keys)
    first = time.perf_counter() - t0
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        circuit.server.run(*args, evaluation_keys=keys)
        walls.append(time.perf_counter() - t0)
    return {"first_run_s": round(first, 3), "run_s": round(float(np.median(walls)), 3)}


def _stats(circuit: fhe.Circuit, keygen_s: float) -> dict[str, object]:
    st = circuit.statistics
    return {"bootstraps": int(st["programmable_bootstrap_count"]),
            "bootstrap_key_bytes": int(st["size_of_bootstrap_keys"]),
            "evaluation_key_bytes": len(circuit.client.evaluation_keys.serialize()), "keygen_s": round(keygen_s, 2)}


def _compile(fn, spec: dict[str, str], inputset: list) -> tuple[fhe.Circuit, float]:
    circuit = fhe.Compiler(fn, spec).compile(inputset, CONFIG)
    t0 = time.perf_counter()
    circuit.keygen()
    return circuit, time.perf_counter() - t0


def old_pass(nb: int, ns: int, levels: int, repeat: int) -> dict[str, object]:
    n = nb + ns
    sign = np.array([1] * nb + [-1] * ns)
    w = (max(nb, ns) * levels).bit_length() + 1

    def compare(ka, s, t):
        return fhe.bits(np.sum(np.sum(s + ka * t, axis=2), axis=1) @ sign + (1 << (w - 1)))[w - 1]

    shape = (n, levels, 1)
    rng = np.random.default_rng(0)
    one = np.ones(shape, np.int64)
    buy = np.broadcast_to((sign > 0).reshape(-1, 1, 1), shape).astype(np.int64)
    inputset = [(x, 0 * one, one) for x in (one, 0 * one, buy, 1 - buy)]
    inputset += [(x, one, -one) for x in (0 * one, one, 1 - buy, buy)]
    for _ in range(4):
        b = rng.integers(0, 2, shape)
        inputset.append((rng.integers(0, 2, shape), b, 1 - 2 * b))
    circuit, keygen_s = _compile(compare, {"ka": "encrypted", "s": "clear", "t": "clear"}, inputset)
    ka = rng.integers(0, 2, shape)
    t0 = time.perf_counter()
    enc = circuit.encrypt(ka, None, None)[0]
    encrypt_s = time.perf_counter() - t0
    b = rng.integers(0, 2, shape)
    out = {"what": "first design: recombine + sum + bit extraction", "elements": n * levels, "width": w,
           "encrypt_s": round(encrypt_s, 3), **_stats(circuit, keygen_s)}
    return {**out, **_runs(circuit, [enc, *_clear(circuit, [b, 1 - 2 * b], 1)], repeat)}


def sign_only(w: int, repeat: int) -> dict[str, object]:
    def compare(a, b):
        return fhe.bits(a + b)[w - 1]

    hi = (1 << w) - 1
    rng = np.random.default_rng(0)
    inputset = [(0, 0), (hi, hi), (hi, 0), (0, hi)] + [(int(x), int(y)) for x, y in rng.integers(0, hi, (10, 2))]
    circuit, keygen_s = _compile(compare, {"a": "encrypted", "b": "clear"}, inputset)
    enc = circuit.encrypt(int(rng.integers(0, hi)), None)[0]
    out = {"what": f"bit extraction of one {w}-bit sum", **_stats(circuit, keygen_s)}
    return {**out, **_runs(circuit, [enc, *_clear(circuit, [np.int64(rng.integers(0, hi))], 1)], repeat)}


def digits(w: int, r: int, repeat: int) -> dict[str, object]:
    count = -(-w // r)
    top = w - (count - 1) * r

    def compare(k, e):
        s = k + e
        carry = 0
        for d in range(count - 1):
            carry = (s[d] + carry) >> r
        return ((s[count - 1] + carry) >> (top - 1)) & 1

    def split(x: int) -> np.ndarray:
        return np.array([(x >> (r * d)) & ((1 << r) - 1) for d in range(count)], dtype=np.int64)

    rng = np.random.default_rng(0)
    hi = split((1 << w) - 1)
    inputset = [(hi, hi), (0 * hi, 0 * hi), (hi, 0 * hi), (0 * hi, hi)]
    inputset += [(split(int(x)), split(int(y))) for x, y in rng.integers(0, 1 << w, (16, 2))]
    circuit, keygen_s = _compile(compare, {"k": "encrypted", "e": "clear"}, inputset)
    enc = circuit.encrypt(split(int(rng.integers(0, 1 << w))), None)[0]
    out = {"what": f"digit comparison, {count} digits of {r} bits", **_stats(circuit, keygen_s)}
    return {**out, **_runs(circuit, [enc, *_clear(circuit, [split(int(rng.integers(0, 1 << w)))], 1)], repeat)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="64x64x256", help="BUYxSELLxLEVELS (1-bit increments)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-pass", action="store_true", help="leave out the (slow) first-design pass")
    args = ap.parse_args()
    nb, ns, levels = (int(x) for x in args.shape.split("x"))
    w = (max(nb, ns) * levels).bit_length() + 1
    rows = [] if args.skip_pass else [old_pass(nb, ns, levels, args.repeat)]
    rows.append(sign_only(w, args.repeat))
    rows += [digits(w, r, args.repeat) for r in (1, 2, 3, 4)]
    for row in rows:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
