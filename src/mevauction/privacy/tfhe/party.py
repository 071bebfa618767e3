"""One party of the TFHE double auction: ``python -m mevauction.privacy.tfhe.party keyholder|evaluator``.

Runs in ``.venv-fhe``. The auctioneer (``backend``) talks to each party over its stdin/stdout
(``wire`` frames: the opening, the traders' shares, the deadline; the party's report); K
and E talk over TCP directly. ``--record FILE`` appends every frame the party receives
(headers and blobs), so tests can read exactly what each party saw.

The key holder decrypts only, and in this order: the comparisons of the binary search over
the grid (it checks each is at the level the previous bits call for), the supply at the
clearing level (if one clears), the quantities (if that supply is positive).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import IO, Any

import numpy as np
from concrete import fhe

from mevauction.privacy.tfhe import circuit, shares, wire


class Channel:
    """Frames over a binary stream pair, optionally recording what comes in."""

    def __init__(self, inp: IO[bytes], out: IO[bytes], record: IO[bytes] | None) -> None:
        self.inp, self.out, self.record, self.sent = inp, out, record, 0

    def send(self, header: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
        self.sent += wire.send(self.out, header, blobs)

    def recv(self, expect: str) -> tuple[dict[str, Any], list[bytes]]:
        header, blobs = wire.recv(self.inp)
        if self.record is not None:
            wire.send(self.record, header, blobs)
        if header.get("type") != expect:
            raise RuntimeError(f"expected {expect!r}, got {header.get('type')!r}")
        return header, blobs


def _shares_until_close(aux: Channel, n: int, levels: int, bits: int) -> tuple[list, dict[int, str]]:
    """The traders' shares (one frame each) up to the deadline; a malformed one is rejected."""
    got: list[Any] = [None] * n
    rejected: dict[int, str] = {}
    while True:
        header, _ = wire.recv(aux.inp)
        if aux.record is not None:
            wire.send(aux.record, header)
        if header.get("type") == "close":
            break
        i = header.get("trader")
        if header.get("type") != "share" or type(i) is not int or not 0 <= i < n or got[i] is not None:
            continue
        reason = shares.check(header.get("share"), levels, bits)
        if reason:
            rejected[i] = reason
        else:
            got[i] = header["share"]
    for i in range(n):
        if got[i] is None and i not in rejected:
            rejected[i] = "no share before the deadline"
    return got, rejected


def _array(got: list, rejected: dict[int, str] | set[int], levels: int, bits: int) -> np.ndarray:
    arr = np.zeros((len(got), levels, bits), dtype=np.int64)
    for i, sh in enumerate(got):
        if sh is not None and i not in rejected:
            arr[i] = sh
    return arr


def keyholder(aux: Channel, record: IO[bytes] | None) -> None:
    opening, _ = aux.recv("open")
    sides, levels, bits = opening["sides"], int(opening["levels"]), int(opening["bits"])
    host, port = opening["evaluator"]
    sock = socket.create_connection((host, int(port)))
    peer = Channel(sock.makefile("rb"), sock.makefile("wb"), record)
    _, specs = peer.recv("specs")
    t0, c0 = time.perf_counter(), time.process_time()
    clients = {}
    for name, blob in zip(circuit.NAMES, specs, strict=True):
        clients[name] = fhe.Client(fhe.ClientSpecs.deserialize(blob))
        clients[name].keygen()
    keygen_s, keygen_cpu = time.perf_counter() - t0, time.process_time() - c0
    keys = [clients[name].evaluation_keys.serialize() for name in circuit.NAMES]
    peer.send({"type": "evaluation_keys"}, keys)
    aux.send({"type": "ready", "keygen_s": keygen_s, "evaluation_key_bytes": [len(k) for k in keys]})
    got, rejected = _shares_until_close(aux, len(sides), levels, bits)
    t0, c0 = time.perf_counter(), time.process_time()
    ka = _array(got, rejected, levels, bits)
    blobs = [clients[name].encrypt(ka, None, None)[0].serialize() for name in circuit.NAMES]
    encrypt_s = time.perf_counter() - t0
    peer.send({"type": "inputs", "rejected": {str(i): r for i, r in rejected.items()}}, blobs)
    opened: dict[str, Any] = {}
    cpu = {"keygen": keygen_cpu, "encrypt": time.process_time() - c0}

    def decrypt(name: str, **expect: Any) -> Any:
        header, blobs = peer.recv("decrypt")
        asked = {k: header.get(k) for k in ("circuit", *expect)}
        if asked != {"circuit": name, **expect} or len(blobs) != 1:
            raise RuntimeError(f"refused an out-of-protocol decryption request {asked}")
        value = np.asarray(clients[name].decrypt(fhe.Value.deserialize(blobs[0]))).tolist()
        peer.send({"type": "opened", "circuit": name, "value": value})
        return value

    lo, hi = -1, levels  # demand ≥ supply holds below hi and at lo (−1: nothing clears)
    bits_seen = []
    while hi - lo > 1:
        mid = (lo + hi) // 2
        bit = bool(decrypt("compare", level=mid))
        bits_seen.append(bit)
        lo, hi = (mid, hi) if bit else (lo, mid)
    opened.update(level=lo, compare=bits_seen)
    if lo >= 0:
        opened["supply"] = decrypt("supply", level=lo)
        if opened["supply"] > 0:
            opened["quantities"] = decrypt("quantities", level=lo)
    aux.send({"type": "outcome", "opened": opened, "rejected": {str(i): r for i, r in rejected.items()},
              "encrypt_s": encrypt_s, "cpu_s": cpu, "input_bytes": [len(b) for b in blobs],
              "bytes_sent": peer.sent})


def evaluator(aux: Channel, record: IO[bytes] | None) -> None:
    opening, _ = aux.recv("open")
    sides, levels, bits = opening["sides"], int(opening["levels"]), int(opening["bits"])
    n = len(sides)
    listener = socket.create_server(("127.0.0.1", 0))
    aux.send({"type": "listening", "port": listener.getsockname()[1]})
    t0, c0 = time.perf_counter(), time.process_time()
    circuits = circuit.compile_all(sides, levels, bits)
    compile_s, compile_cpu = time.perf_counter() - t0, time.process_time() - c0
    sock, _ = listener.accept()
    listener.close()
    peer = Channel(sock.makefile("rb"), sock.makefile("wb"), record)
    peer.send({"type": "specs"}, [circuits[name].server.client_specs.serialize() for name in circuit.NAMES])
    _, keys = peer.recv("evaluation_keys")
    evaluation = {name: fhe.EvaluationKeys.deserialize(k) for name, k in zip(circuit.NAMES, keys, strict=True)}
    aux.send({"type": "ready", "compile_s": compile_s,
              "circuits": {name: circuit.statistics(c) for name, c in circuits.items()}})
    got, rejected = _shares_until_close(aux, n, levels, bits)
    header, inputs = peer.recv("inputs")
    t_start = time.perf_counter()
    theirs = header.get("rejected", {})
    out = {**{int(i): str(r) for i, r in theirs.items()}, **rejected}
    b = _array(got, out, levels, bits)
    live = np.array([i not in out for i in range(n)], dtype=np.int64).reshape(-1, 1, 1)
    s, t = b * live, (1 - 2 * b) * live
    timings: dict[str, float] = {}
    c1 = time.process_time()

    def run(name: str, level: int) -> Any:
        t1 = time.perf_counter()
        m = circuit.mask(sides, levels, level)
        server = circuits[name].server
        cs, ct = circuit.clear_inputs(server, s * m, t * m)
        result = server.run(fhe.Value.deserialize(inputs[circuit.NAMES.index(name)]), cs, ct,
                            evaluation_keys=evaluation[name])
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t1
        peer.send({"type": "decrypt", "circuit": name, "level": level}, [result.serialize()])
        return peer.recv("opened")[0]["value"]

    lo, hi = -1, levels
    while hi - lo > 1:  # the same binary search the key holder checks
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if run("compare", mid) else (lo, mid)
    supply, quantities = None, None
    if lo >= 0:
        supply = int(run("supply", lo))
        if supply > 0:
            quantities = [int(q) for q in run("quantities", lo)]
    sock.shutdown(socket.SHUT_WR)
    aux.send({"type": "outcome", "level": lo, "supply": supply, "quantities": quantities,
              "rejected": {str(i): r for i, r in out.items()}, "evaluate_s": timings,
              "cpu_s": {"compile": compile_cpu, "evaluate": time.process_time() - c1},
              "result_s": time.perf_counter() - t_start, "bytes_sent": peer.sent})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mevauction.privacy.tfhe.party")
    ap.add_argument("role", choices=("keyholder", "evaluator"))
    ap.add_argument("--record", help="append every frame received to this file")
    args = ap.parse_args(argv)
    record = open(args.record, "ab") if args.record else None  # open for the process's life
    aux = Channel(sys.stdin.buffer, sys.stdout.buffer, record)
    try:
        (keyholder if args.role == "keyholder" else evaluator)(aux, record)
    except Exception as exc:  # the auctioneer reports it in one line
        aux.send({"type": "error", "reason": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
