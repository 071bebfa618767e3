"""The three TFHE circuits of one double auction (run by the evaluator, keyed by the key holder).

Inputs of every circuit: ``ka`` (n, G, bits), the key holder's share bits, encrypted; ``s``
and ``t`` (same shape), the evaluator's clear share bits b as s = b and t = 1 − 2b (zero for
a rejected trader or a level masked out), so that a ⊕ b = s + a·t stays a leveled
operation: no bootstrapping is spent on recombining shares.

- ``compare``: whether demand ≥ supply at one grid level (the evaluator masks each
  trader's levels: a buy order counts its increments at and above the level, a sell
  order at and below) — its sign bit by bit extraction. Demand − supply never increases
  with the level, so a binary search over the G levels finds the clearing level (the
  highest at which demand ≥ supply) in ⌈log2(G + 1)⌉ comparisons, and every comparison
  bit it opens follows from the clearing level itself;
- ``supply``: total supply at the clearing level, so that the key holder learns "no
  trade" without any quantity when it is 0;
- ``quantities``: each trader's quantity at the clearing level.

Only in ``.venv-fhe`` (concrete-python).
"""

from __future__ import annotations

import numpy as np
from concrete import fhe
from concrete.compiler import ClientProgram
from concrete.compiler import Value as RawValue

NAMES = ("compare", "supply", "quantities")
CONFIG = dict(compress_input_ciphertexts=True, compress_evaluation_keys=True)


def _functions(sides: list[str], levels: int, bits: int):
    buy = np.array([1 if s == "buy" else 0 for s in sides], dtype=np.int64)
    sign = 2 * buy - 1
    weights = 1 << np.arange(bits, dtype=np.int64)
    # demand − supply lies in [−2^(w−1), 2^(w−1)): shifted by 2^(w−1), its top bit is "demand ≥ supply".
    bound = max(int(buy.sum()), int((1 - buy).sum())) * levels * ((1 << bits) - 1)
    width = bound.bit_length() + 1

    def quantities(ka, s, t):  # a ⊕ b = s + a·t bit by bit, weighted, summed over the unmasked levels
        return np.sum(np.sum((s + ka * t) * weights, axis=2), axis=1)

    def compare(ka, s, t):
        # Bit extraction, not a table lookup on the whole difference: w small bootstraps
        # (one bit each, from the lowest) instead of one at w bits plus the noise of n·G·bits
        # fresh ciphertexts — which needed 2^15-coefficient polynomials and GB-sized keys.
        return fhe.bits(np.sum(quantities(ka, s, t) * sign) + (1 << (width - 1)))[width - 1]

    def supply(ka, s, t):
        return np.sum(quantities(ka, s, t) * (1 - buy))

    return {"compare": compare, "supply": supply, "quantities": quantities}


def probes(levels: int) -> int:
    """Comparisons the binary search over ``levels`` grid levels takes."""
    return levels.bit_length()


def mask(sides: list[str], levels: int, level: int) -> np.ndarray:
    """(n, G, 1): which increments count at ``level`` — buy at and above it, sell at and below."""
    buy = np.array([x == "buy" for x in sides]).reshape(-1, 1)
    g = np.arange(levels).reshape(1, -1)
    return np.where(buy, g >= level, g <= level).astype(np.int64)[:, :, None]


def _inputset(sides: list[str], levels: int, bits: int, rng: np.random.Generator):
    """Extremes (each side at its maximum alone, both, none) and random valid shares:
    the compiled widths must hold every input that passes ``shares.check``."""
    n = len(sides)
    shape = (n, levels, bits)
    buy = np.array([s == "buy" for s in sides]).reshape(-1, 1, 1)
    out = []
    for ones in (np.ones(shape, bool), np.zeros(shape, bool), np.broadcast_to(buy, shape),
                 np.broadcast_to(~buy, shape)):
        ka = ones.astype(np.int64)
        out.append((ka, np.zeros(shape, np.int64), np.ones(shape, np.int64)))
        out.append((1 - ka, np.ones(shape, np.int64), -np.ones(shape, np.int64)))  # same values through t = −1
    for _ in range(4):
        ka = rng.integers(0, 2, shape)
        b = rng.integers(0, 2, shape)
        out.append((ka, b, 1 - 2 * b))
    return out


def compile_all(sides: list[str], levels: int, bits: int) -> dict[str, fhe.Circuit]:
    fns = _functions(sides, levels, bits)
    inputset = _inputset(sides, levels, bits, np.random.default_rng(0))
    spec = {"ka": "encrypted", "s": "clear", "t": "clear"}
    return {name: fhe.Compiler(fns[name], spec).compile(inputset, fhe.Configuration(**CONFIG)) for name in NAMES}


def clear_inputs(server: fhe.Server, s: np.ndarray, t: np.ndarray) -> tuple[fhe.Value, fhe.Value]:
    """The evaluator's clear arguments as transport values — prepared without any key
    (a simulated client program only lays out clear inputs; nothing is encrypted)."""
    info = server.client_specs.program_info
    prog = ClientProgram.create_simulated(info).get_client_circuit(info.function_list()[0])
    return (fhe.Value(prog.simulate_prepare_input(RawValue(s.astype(np.int64)), 1)),
            fhe.Value(prog.simulate_prepare_input(RawValue(t.astype(np.int64)), 2)))


def statistics(circuit: fhe.Circuit) -> dict[str, object]:
    st = circuit.statistics
    return {"bootstraps": int(st.get("programmable_bootstrap_count", 0)),
            "bootstrap_key_bytes": int(st.get("size_of_bootstrap_keys", 0)),
            "keyswitch_key_bytes": int(st.get("size_of_keyswitch_keys", 0)),
            "input_bytes": int(st.get("size_of_inputs", 0)), "global_p_error": float(st.get("global_p_error", 0.0))}
