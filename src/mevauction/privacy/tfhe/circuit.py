"""The one TFHE circuit of a double auction: is demand ≥ supply at one grid level?

K and E hold additive shares mod 2^64 of demand − supply at every level (``convert``).
For a probed level K encrypts its share reduced mod 2^w, split into D digits of ``DIGIT``
bits; E adds its clear share (plus 2^(w−1), so the value is in [0, 2^w)) digit by digit
and propagates the carry, one small lookup per digit; the top bit of the w-bit sum is
"demand ≥ supply". w holds every |demand − supply| the market allows, with one bit to spare.

Why digits: a single ciphertext of the whole w-bit sum (16 bits at 64 × 64 × 256) needs
high-precision parameters, and each of its bootstraps cost ≈ 90 ms with a 467 MB
bootstrap key; digits of 2 bits keep every lookup at 3 bits of precision (D − 1 carries
and the top bit: 8 bootstraps at w = 16). Only K's share is encrypted — E's digits are
clear constants — and K's share alone is uniform, so the ciphertext holds nothing of a curve.

Only in ``.venv-fhe`` (concrete-python).
"""

from __future__ import annotations

import importlib
import threading

import numpy as np
from concrete import fhe
from concrete.compiler import ClientProgram
from concrete.compiler import Value as RawValue

DIGIT = 2  # bits per digit: 3-bit lookups, the cheapest per comparison measured (1, 2, 3, 4 tried)
CONFIG = dict(compress_input_ciphertexts=True, compress_evaluation_keys=True)


def width(n_buy: int, n_sell: int, levels: int, bits: int) -> int:
    """Bits of demand − supply + 2^(w−1): |demand − supply| ≤ max(n_buy, n_sell)·G·(2^bits − 1) < 2^(w−1)."""
    bound = max(n_buy, n_sell, 1) * levels * ((1 << bits) - 1)
    return bound.bit_length() + 1


def n_digits(w: int) -> int:
    return -(-w // DIGIT)


def digits(x: int, w: int) -> np.ndarray:
    """x mod 2^w as ``n_digits(w)`` little-endian digits of ``DIGIT`` bits."""
    x %= 1 << w
    return np.array([(x >> (DIGIT * d)) & ((1 << DIGIT) - 1) for d in range(n_digits(w))], dtype=np.int64)


def evaluator_digits(share: int, w: int) -> np.ndarray:
    """E's clear digits: its share of demand − supply plus 2^(w−1), so that K's share plus
    this lies in [0, 2^w) mod 2^w and its top bit is "demand − supply ≥ 0"."""
    return digits(share + (1 << (w - 1)), w)


def _compare(w: int):
    d_count = n_digits(w)
    top = w - (d_count - 1) * DIGIT  # bits of the top digit

    def compare(k, e):  # k: K's digits (encrypted), e: E's digits (clear)
        s = k + e
        carry = 0
        for d in range(d_count - 1):
            carry = (s[d] + carry) >> DIGIT
        return ((s[d_count - 1] + carry) >> (top - 1)) & 1

    return compare


_COMPILING = threading.Lock()  # a long-lived party compiles on each auction's thread: one at a time


def _tracing_on_this_thread() -> None:
    """concrete keeps its tracing state in thread-locals set up on the thread that imported
    it; a long-lived party (``served``) compiles on an auction's own thread."""
    ext = "concrete.fhe.extensions."  # the modules: the package's names are the functions
    tags = importlib.import_module(ext + "tag").tag_context
    if not hasattr(tags, "stack"):
        tags.stack = []
    for name in ("round_bit_pattern", "truncate_bit_pattern"):
        local = importlib.import_module(ext + name).local
        if not hasattr(local, "_is_adjusting"):
            local._is_adjusting = False


def compile_compare(w: int) -> fhe.Circuit:
    """Compiled for every pair of digit vectors: the inputset holds the extremes and random ones."""
    rng = np.random.default_rng(0)
    hi = digits((1 << w) - 1, w)
    inputset = [(hi, hi), (0 * hi, 0 * hi), (hi, 0 * hi), (0 * hi, hi)]
    inputset += [(digits(int(x), w), digits(int(y), w)) for x, y in rng.integers(0, 1 << w, (16, 2))]
    with _COMPILING:
        _tracing_on_this_thread()
        return fhe.Compiler(_compare(w), {"k": "encrypted", "e": "clear"}).compile(inputset,
                                                                                   fhe.Configuration(**CONFIG))


def clear_input(server: fhe.Server, e: np.ndarray) -> fhe.Value:
    """E's clear digits as a transport value — prepared without any key (a simulated
    client program only lays out clear inputs; nothing is encrypted)."""
    info = server.client_specs.program_info
    prog = ClientProgram.create_simulated(info).get_client_circuit(info.function_list()[0])
    return fhe.Value(prog.simulate_prepare_input(RawValue(e.astype(np.int64)), 1))


def statistics(circuit: fhe.Circuit) -> dict[str, object]:
    st = circuit.statistics
    return {"bootstraps": int(st.get("programmable_bootstrap_count", 0)),
            "bootstrap_key_bytes": int(st.get("size_of_bootstrap_keys", 0)),
            "keyswitch_key_bytes": int(st.get("size_of_keyswitch_keys", 0)),
            "input_bytes": int(st.get("size_of_inputs", 0)), "global_p_error": float(st.get("global_p_error", 0.0))}
