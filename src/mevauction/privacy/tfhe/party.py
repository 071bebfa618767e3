"""One party of the TFHE double auction: ``python -m mevauction.privacy.tfhe.party keyholder|evaluator``.

Runs in ``.venv-fhe``. The auctioneer (``backend``) talks to each party over its stdin/stdout
(``wire`` frames: the opening, the traders' shares, the deadline; the party's report); K
and E talk over TCP directly, under mutual TLS with the certificates in the opening's
``link_tls`` (K shows party 0's, E party 1's): E keeps accepting until a peer proves it is
K, so a local process that connects first can neither pose as K nor lock K out.
``--record FILE`` appends every frame the party receives (headers and blobs), so tests
can read exactly what each party saw. A long-lived party (``served``) runs the same steps
on a thread per auction, with its own peer link and intake in place of the opening's.

Before the deadline: E compiles the comparison circuit and sends its client specs; K
generates the keys and sends E the evaluation keys; the 128 base OTs run; E runs the
circuit once on a ciphertext of zeros (the first run loads the keys). After it: the
parties swap rejections, convert the shares by one OT per bit (``convert``), and run the
binary search — K encrypts its digits at the level its own search calls for, E compares,
K decrypts the bit and tells E. Then E opens its share of the supply at the clearing level
to K and, only if that is positive, its shares of the traders' quantities there.
"""

from __future__ import annotations

import argparse
import queue
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import numpy as np
from concrete import fhe

from mevauction.privacy import tls
from mevauction.privacy.tfhe import circuit, convert, shares, wire
from mevauction.privacy.tfhe import intake as trader_intake
from mevauction.privacy.twoparty import ot
from mevauction.privacy.twoparty.garble import FixedKeyHash
from mevauction.privacy.twoparty.intake import Intake

_POINT = 33  # a compressed secp256k1 point (base OT)


class Channel:
    """Frames over a binary stream pair, optionally recording what comes in."""

    def __init__(self, inp: IO[bytes], out: IO[bytes], record: IO[bytes] | None) -> None:
        self.inp, self.out, self.record, self.sent = inp, out, record, 0

    def send(self, header: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
        self.sent += wire.send(self.out, header, blobs)

    def recv(self, expect: str | tuple[str, ...]) -> tuple[dict[str, Any], list[bytes]]:
        header, blobs = wire.recv(self.inp)
        if self.record is not None:
            wire.send(self.record, header, blobs)
        if header.get("type") not in ((expect,) if isinstance(expect, str) else expect):
            raise RuntimeError(f"expected {expect!r}, got {header.get('type')!r}")
        return header, blobs


class Clock:
    """Wall and CPU seconds per step, for the benchmark's breakdown."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._at = (time.perf_counter(), time.process_time())
        self.started = time.time()  # epoch seconds: the auctioneer compares them with its deadline

    def lap(self, step: str) -> None:
        now = (time.perf_counter(), time.process_time())
        self.wall[step] = self.wall.get(step, 0.0) + now[0] - self._at[0]
        self.cpu[step] = self.cpu.get(step, 0.0) + now[1] - self._at[1]
        self._at = now

    def report(self) -> dict[str, Any]:
        return {"started": self.started, "wall_s": {k: round(v, 4) for k, v in self.wall.items()},
                "cpu_s": {k: round(v, 4) for k, v in self.cpu.items()}}


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


def _swap_rejections(peer: Channel, got: list, rejected: dict[int, str], levels: int,
                     bits: int) -> tuple[np.ndarray, dict[int, str]]:
    """This party's share bits (n, G, bits), zero for every trader either party rejected
    (a rejected trader then contributes nothing), and all rejections."""
    n = len(got)
    peer.send({"type": "rejected", "rejected": {str(i): r for i, r in rejected.items()}})
    theirs = peer.recv("rejected")[0].get("rejected", {})
    out = {**{int(i): str(r) for i, r in theirs.items() if str(i).isdigit() and 0 <= int(i) < n}, **rejected}
    arr = np.zeros((n, levels, bits), dtype=np.int64)
    for i, sh in enumerate(got):
        if sh is not None and i not in out:
            arr[i] = sh
    return arr, out


def _buy(sides: list[str]) -> np.ndarray:
    return np.array([s == "buy" for s in sides], dtype=bool)


class Market:
    """The public shape of the auction: from the opening (``sides``: the auctioneer pipes the
    shares), or, with a trader intake (``intake``: traders send their own), known only at
    the close — the circuit's width is then set by ``max_bids`` on each side."""

    def __init__(self, opening: dict[str, Any], role: int, intake: Intake | None = None) -> None:
        self.levels, self.bits, self.role = int(opening["levels"]), int(opening["bits"]), role
        self.intake = intake  # a long-lived party's (``served``): the auction is open in it already
        self.info: dict[str, Any] = {}
        self.digests: list[str] = []  # the agreed traders' header digests (with an intake)
        if "intake" in opening and intake is None:
            self.intake, self.info = trader_intake.start(opening, role)
        if self.intake is None:
            self.sides: list[str] = list(opening["sides"])
            buyers = int(_buy(self.sides).sum())
            counts = (buyers, len(self.sides) - buyers)
        else:
            self.sides, counts = [], (opening["intake"]["max_bids"],) * 2
            self.auction = str(opening["intake"]["auction"])
        self.labels = [str(i) for i in range(len(self.sides))]
        self.w = circuit.width(counts[0], counts[1], self.levels, self.bits)

    def until_close(self, aux: Channel) -> tuple[list, dict[int, str]]:
        if self.intake is None:
            return _shares_until_close(aux, len(self.sides), self.levels, self.bits)
        aux.recv("close")
        return [], {}

    def agree(self, peer: Channel, got: list, rejected: dict[int, str],
              record: IO[bytes] | None) -> tuple[np.ndarray, dict[int, str]]:
        """After the deadline: the traders both parties hold, this party's bits for them."""
        if self.intake is not None:
            got, self.sides, self.labels, self.digests = trader_intake.close(self.intake, self.auction, peer,
                                                                             self.role, record)
        return _swap_rejections(peer, got, rejected, self.levels, self.bits)

    @property
    def buy(self) -> np.ndarray:
        return _buy(self.sides)

    def public(self) -> dict[str, Any]:
        return {"bidders": self.labels, "sides": self.sides, "digests": self.digests}


def _u64(blob: bytes, count: int, what: str) -> np.ndarray:
    if len(blob) != 8 * count:
        raise RuntimeError(f"expected {count} {what}, got {len(blob)} bytes")
    return np.frombuffer(blob, dtype=np.uint64)


class KeyHolder:
    """K's steps, one method each (``keyholder`` runs them in order; a test can run them
    out of order, as a cheating K would)."""

    def __init__(self, aux: Any, record: IO[bytes] | None, link: Link | None = None,
                 intake: Intake | None = None) -> None:
        """Up to ``ready``: connect to E, generate the keys, send the evaluation keys, base OTs.
        ``link``/``intake``: a long-lived party's (``served``); by default the opening's."""
        self.aux, self.record = aux, record
        opening, _ = aux.recv("open")
        self.market = Market(opening, trader_intake.KEYHOLDER, intake)
        self.levels, self.bits, self.w = self.market.levels, self.market.bits, self.market.w
        sock = link() if link is not None else _connect_evaluator(opening)
        self.peer = Channel(sock.makefile("rb"), sock.makefile("wb"), record)
        _, blobs = self.peer.recv("specs")
        clock = Clock()
        self.client = fhe.Client(fhe.ClientSpecs.deserialize(blobs[0]))
        self.client.keygen()
        clock.lap("keygen")
        self.ext = ot.ExtSender()
        points = self.ext.setup(blobs[1])
        clock.lap("base_ot")
        keys = self.client.evaluation_keys.serialize()
        warm = self.client.encrypt(circuit.digits(0, self.w), None)[0].serialize()
        self.peer.send({"type": "evaluation_keys"}, [keys, b"".join(points), warm])
        aux.send({"type": "ready", "keygen_s": clock.wall["keygen"], "evaluation_key_bytes": len(keys),
                  "setup": clock.report(), **self.market.info})
        self.cipher_bytes = 0

    def convert(self) -> None:
        """The traders' shares up to the deadline, then the rejections swap, the OTs and the sums."""
        got, rejected = self.market.until_close(self.aux)
        self.clock = Clock()  # the deadline
        a, self.rejected = self.market.agree(self.peer, got, rejected, self.record)
        self.sides, self.buy = self.market.sides, self.market.buy
        self.clock.lap("rejections")
        _, (u,) = self.peer.recv("ot")
        q = self.ext.extend(u, a.size)
        mine, y = convert.sender(FixedKeyHash(), q, self.ext.s, a.ravel())
        self.peer.send({"type": "ot_corrections"}, [y.tobytes()])
        self.clock.lap("ot")
        self.diff, self.supply, self.cum = convert.sums(mine.reshape(a.shape), self.buy)
        self.clock.lap("sums")

    def compare(self, level: int) -> bool:
        """One comparison: is demand ≥ supply at ``level``?"""
        ct = self.client.encrypt(circuit.digits(int(self.diff[level]), self.w), None)[0].serialize()
        self.cipher_bytes += len(ct)
        self.clock.lap("encrypt")
        self.peer.send({"type": "probe", "level": level}, [ct])
        header, blobs = self.peer.recv("compared")
        self.clock.lap("compare_wait")
        if header.get("level") != level or len(blobs) != 1:
            raise RuntimeError(f"refused an out-of-protocol comparison result {header}")
        bit = bool(self.client.decrypt(fhe.Value.deserialize(blobs[0])))
        self.peer.send({"type": "bit", "level": level, "value": bit})
        self.clock.lap("decrypt")
        return bit

    def search(self) -> tuple[int, list[bool]]:
        """The clearing level (−1: none) by binary search, and the comparison bits on the way."""
        lo, hi = -1, self.levels  # demand ≥ supply holds below hi and at lo
        seen = []
        while hi - lo > 1:
            mid = (lo + hi) // 2
            seen.append(self.compare(mid))
            lo, hi = (mid, hi) if seen[-1] else (lo, mid)
        return lo, seen

    def open(self, what: str, level: int) -> Any:
        """E's share of the supply (an int) or of the quantities (n ints) at ``level``, added to K's."""
        self.peer.send({"type": "open", "what": what, "level": level})
        if what == "supply":
            header, _ = self.peer.recv("supply_share")
            return convert.opened(self.supply[level], header["value"])
        _, (blob,) = self.peer.recv("shares")
        theirs = _u64(blob, len(self.sides), "quantity shares")
        return [convert.opened(x, e) for x, e in zip(self.cum[:, level], theirs, strict=True)]

    def finish(self, opened: dict[str, Any]) -> None:
        self.peer.send({"type": "opened", **opened})
        self.aux.send({"type": "outcome", "opened": opened, "rejected": {str(i): r for i, r in self.rejected.items()},
                       **self.market.public(), "width": self.w, "input_bytes": self.cipher_bytes,
                       "bytes_sent": self.peer.sent,
                       "after_deadline": self.clock.report()})


def keyholder(aux: Any, record: IO[bytes] | None, link: Link | None = None, intake: Intake | None = None) -> None:
    k = KeyHolder(aux, record, link, intake)
    k.convert()
    lo, seen = k.search()
    opened: dict[str, Any] = {"level": lo, "compare": seen}
    if lo >= 0:
        opened["supply"] = k.open("supply", lo)
        if opened["supply"] > 0:
            opened["quantities"] = k.open("quantities", lo)
        k.clock.lap("open")
    k.finish(opened)


KEYHOLDER_CERT, EVALUATOR_CERT = 0, 1  # certificate indices in ``link_tls``
Link = Callable[[], ssl.SSLSocket]  # a long-lived party's way to its peer for one auction


def _connect_evaluator(opening: dict[str, Any]) -> ssl.SSLSocket:
    host, port = opening["evaluator"]
    link = str(opening["link_tls"])
    sock = tls.mutual_client_context(link, KEYHOLDER_CERT).wrap_socket(socket.create_connection((host, int(port))))
    tls.check_peer(sock, EVALUATOR_CERT)
    return sock


def _accept_keyholder(listener: socket.socket, link: str) -> ssl.SSLSocket:
    """The first connection that completes the TLS handshake with K's certificate. Each
    connection's handshake runs on its own thread, so a stranger (no certificate, another
    one, plain bytes, or silence) is dropped without delaying K's."""
    ctx = tls.mutual_server_context(link, EVALUATOR_CERT)
    found: queue.Queue[ssl.SSLSocket] = queue.Queue()

    def handshake(raw: socket.socket) -> None:
        raw.settimeout(10)  # a silent stranger's thread ends; it never held up the others
        try:
            sock = ctx.wrap_socket(raw, server_side=True)
            tls.check_peer(sock, KEYHOLDER_CERT)
        except (OSError, ConnectionError):  # ssl.SSLError is an OSError: a stranger, dropped
            raw.close()
            return
        sock.settimeout(None)
        found.put(sock)

    listener.settimeout(0.1)
    while found.empty():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        threading.Thread(target=handshake, args=(raw,), daemon=True).start()
    return found.get()


def evaluator(aux: Any, record: IO[bytes] | None, link: Link | None = None, intake: Intake | None = None) -> None:
    opening, _ = aux.recv("open")
    market = Market(opening, trader_intake.EVALUATOR, intake)
    levels, w = market.levels, market.w
    listener = None
    if link is None:
        listener = socket.create_server(("127.0.0.1", 0))
        aux.send({"type": "listening", "port": listener.getsockname()[1]})
    clock = Clock()
    compare = circuit.compile_compare(w)
    server = compare.server
    clock.lap("compile")
    ext = ot.ExtReceiver()
    if listener is not None:
        sock = _accept_keyholder(listener, str(opening["link_tls"]))
        listener.close()
    else:
        assert link is not None
        sock = link()
    peer = Channel(sock.makefile("rb"), sock.makefile("wb"), record)
    peer.send({"type": "specs"}, [server.client_specs.serialize(), ext.base.A_bytes])
    _, (keys, points, warm) = peer.recv("evaluation_keys")
    clock.lap("keygen_wait")
    if len(points) != _POINT * ot.KAPPA:
        raise RuntimeError("expected 128 base-OT points")
    ext.setup([points[i:i + _POINT] for i in range(0, len(points), _POINT)])
    clock.lap("base_ot")
    evaluation = fhe.EvaluationKeys.deserialize(keys)
    server.run(fhe.Value.deserialize(warm), circuit.clear_input(server, circuit.digits(0, w)),
               evaluation_keys=evaluation)  # the first run loads the keys: ≈ 2 s, off the deadline path
    clock.lap("warm_up")
    aux.send({"type": "ready", "compile_s": clock.wall["compile"], "setup": clock.report(),
              "circuits": {"compare": circuit.statistics(compare)}, **market.info})
    got, rejected = market.until_close(aux)
    clock = Clock()  # the deadline
    b, rejected = market.agree(peer, got, rejected, record)
    buy = market.buy
    clock.lap("rejections")
    u, t = ext.extend(b.ravel())
    peer.send({"type": "ot"}, [u])
    _, (blob,) = peer.recv("ot_corrections")
    mine = convert.receiver(FixedKeyHash(), t, b.ravel(), _u64(blob, b.size, "OT corrections"))
    clock.lap("ot")
    diff, supply, cum = convert.sums(mine.reshape(b.shape), buy)
    clock.lap("sums")
    lo, hi = -1, levels
    while hi - lo > 1:  # the same binary search as the key holder's
        mid = (lo + hi) // 2
        header, blobs = peer.recv("probe")
        clock.lap("probe_wait")
        if header.get("level") != mid or len(blobs) != 1:
            raise RuntimeError(f"refused an out-of-protocol probe {header}")
        mine_digits = circuit.evaluator_digits(int(diff[mid]), w)
        result = server.run(fhe.Value.deserialize(blobs[0]), circuit.clear_input(server, mine_digits),
                            evaluation_keys=evaluation)
        peer.send({"type": "compared", "level": mid}, [result.serialize()])
        clock.lap("compare")
        header, _ = peer.recv("bit")
        clock.lap("bit_wait")
        lo, hi = (mid, hi) if header.get("value") is True else (lo, mid)
    while True:  # the openings K asks for, at the clearing level only; then K's outcome
        header, _ = peer.recv(("open", "opened"))
        if header["type"] == "opened":
            break
        if lo < 0 or header.get("level") != lo or header.get("what") not in ("supply", "quantities"):
            raise RuntimeError(f"refused an out-of-protocol opening {header}")
        if header["what"] == "supply":
            peer.send({"type": "supply_share", "value": int(supply[lo])})
        else:
            peer.send({"type": "shares"}, [np.ascontiguousarray(cum[:, lo]).tobytes()])
    clock.lap("open")
    sock.close()
    if header.get("level") != lo:
        raise RuntimeError("the key holder reports another clearing level")
    aux.send({"type": "outcome", "level": lo, "supply": header.get("supply"), "quantities": header.get("quantities"),
              **market.public(),
              "rejected": {str(i): r for i, r in rejected.items()}, "bytes_sent": peer.sent,
              "after_deadline": clock.report()})


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
    # A trader intake keeps answering (a late order is refused, not unreachable) until the
    # auctioneer lets go of this process.
    while sys.stdin.buffer.read(1 << 16):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
