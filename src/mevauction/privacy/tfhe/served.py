"""A long-lived TFHE party (``mevauction sealed party serve --backend tfhe``), run in ``.venv-fhe``.

One process per party, run by its own operator with its own identity (``pair``), for many
auctions. It serves three ports, each TLS with the party's published certificate:

- **control** (the auctioneer): one framed request per connection (``wire``), ``open`` or
  ``close``, each signed by the auctioneer's key whose address the party pins
  (``--control-key``; fresh time, new nonce: ``messages.ControlGate``); anything else is
  refused in one line. No remote shutdown: only the operator stops the party.
- **intake** (traders): the 2PC intake (``twoparty.intake.Intake``) with curve shares,
  every acknowledged share on disk first (``--state``, ``twoparty.store``).
- **link** (E only): K connects for each auction under mutual TLS, both certificates
  pinned to the parties file, and names the auction in a first frame.

Each auction is a session: a thread that runs the same steps as a child party
(``party.keyholder`` / ``party.evaluator``), its "auctioneer pipe" an in-process
``Mailbox`` that the control requests fill. ``open`` does the setup (compile, keys, base
OTs) before it answers; ``close`` is the deadline and answers with the outcome and this
party's signed statement (``outcome.statement``). A party killed and restarted keeps the
auction's spec and acknowledged shares (the store) but not its session: at the close it
sets the auction up again, and its peer, whose link then reads end-of-file, does too
(the setup then runs after the deadline: a slower close, the same outcome).
"""

from __future__ import annotations

import argparse
import json
import queue
import socket
import ssl
import sys
import threading
import time
from typing import Any

from mevauction.privacy import messages, tls
from mevauction.privacy.tfhe import outcome, pair, party, shares, wire
from mevauction.privacy.twoparty.intake import Intake, parse_curve_spec
from mevauction.privacy.twoparty.store import IntakeStore

REQUEST_LIMIT = 1 << 16


class Mailbox:
    """A session's auctioneer channel, in process: the control requests put the opening and
    the close in, the party's steps put ``ready``, ``outcome`` or ``error`` out."""

    def __init__(self) -> None:
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ready: dict[str, Any] = {}  # the setup's report, repeated with the outcome

    def recv(self, expect: str) -> tuple[dict[str, Any], list[bytes]]:
        header = self.inbox.get()
        if header.get("type") != expect:
            raise RuntimeError(f"expected {expect!r}, got {header.get('type')!r}")
        return header, []

    def send(self, header: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
        self.outbox.put(header)

    def wait(self, expect: str, timeout: float) -> dict[str, Any]:
        try:
            header = self.outbox.get(timeout=timeout)
        except queue.Empty:
            raise SessionError(f"no {expect} within {timeout:.0f} s", link=True) from None
        if header.get("type") == "error":
            raise SessionError(str(header.get("reason")), link=bool(header.get("link")))
        if expect == "ready":
            self.ready = header
        return header


class SessionError(Exception):
    def __init__(self, reason: str, link: bool) -> None:
        super().__init__(reason)
        self.link = link  # the peer link failed (a restarted peer): a fresh session may succeed


class Party:
    def __init__(self, role: int, key_file: str, doc: dict[str, Any], controller: str, state: str,
                 timeout: float) -> None:
        self.role, self.timeout = role, timeout
        self.key = pair.load_signing_key(key_file)
        entries = pair.parties(doc)
        self.me, self.peer = entries[role], entries[1 - role]
        self.own = pair.tls_paths(key_file)
        if self.me.signer != messages.address(self.key) or self.me.tls_cert.strip() != self.own[0].read_text().strip():
            raise ValueError(f"--key-file: not the identity the parties file publishes for the {pair.ROLES[role]}")
        self.gate = messages.ControlGate(controller)
        self.lock = threading.Lock()  # the gate, the sessions, the links
        store = IntakeStore(state)
        self.specs = {str(s["auction"]): s for s, _ in store.load()[0]}  # auctions open before a restart
        self.intake = Intake(role, self.key, None, store)
        self.sessions: dict[str, Mailbox] = {}
        self.links: dict[str, queue.Queue[ssl.SSLSocket]] = {}
        # E: the link each auction's session took, closed when the session fails so that the
        # key holder on the other end learns at once (links still queued are left alone: they
        # may be a restarted key holder's, for the session the close starts next)
        self.current: dict[str, ssl.SSLSocket] = {}
        self.closing: set[str] = set()  # one close at a time per auction (a second would start a second session)

    # -- ports ---------------------------------------------------------------------------

    def serve(self) -> None:
        crt, key = self.own
        self.intake.serve(*self.me.intake, context=tls.pinned_server_context(crt, key))
        if self.role == pair.ROLES.index("evaluator"):
            assert self.me.link is not None
            ctx = tls.pinned_server_context(crt, key, self.peer.tls_cert)
            _listen(self.me.link, lambda raw: self._link_in(ctx, raw), "tfhe-link")
        _listen(self.me.control, self._control, "tfhe-control", block=True,
                ctx=tls.pinned_server_context(crt, key))

    def _queue(self, auction: str) -> queue.Queue[ssl.SSLSocket]:
        with self.lock:
            return self.links.setdefault(auction, queue.Queue())

    def _link_in(self, ctx: ssl.SSLContext, raw: socket.socket) -> None:
        """E: a connection that proves it is K (pinned certificate) and names an auction."""
        sock = ctx.wrap_socket(raw, server_side=True)
        tls.check_pinned(sock, self.peer.tls_cert, "key holder")
        hello, _ = wire.recv(sock.makefile("rb", buffering=0))  # type: ignore[arg-type]  # unbuffered: no read-ahead
        if hello.get("type") != "hello" or not isinstance(hello.get("auction"), str):
            raise ConnectionError("expected the key holder's hello")
        sock.settimeout(self.timeout)
        self._queue(hello["auction"]).put(sock)

    def _close_current(self, auction: str) -> None:
        with self.lock:
            sock = self.current.pop(auction, None)
        if sock is not None:
            sock.close()

    def _link(self, auction: str) -> party.Link:
        if self.role == 0:  # K connects to E's link port, retrying while E comes up
            def connect() -> ssl.SSLSocket:
                assert self.peer.link is not None
                ctx = tls.pinned_client_context(self.peer.tls_cert, self.own)
                deadline = time.monotonic() + self.timeout
                while True:
                    try:
                        raw = socket.create_connection(self.peer.link, timeout=self.timeout)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
                sock = ctx.wrap_socket(raw)
                tls.check_pinned(sock, self.peer.tls_cert, "evaluator")
                wire.send(sock.makefile("wb"), {"type": "hello", "auction": auction})
                return sock
            return connect

        def accepted() -> ssl.SSLSocket:
            q = self._queue(auction)
            try:
                sock = q.get(timeout=self.timeout)
            except queue.Empty:
                raise ConnectionError(f"the key holder did not connect for {auction} "
                                      f"within {self.timeout:.0f} s") from None
            # K runs one session per auction at a time, so its newest connection is the live
            # one; older ones queued are from sessions it gave up (e.g. before a restart)
            while not q.empty():
                sock.close()
                sock = q.get_nowait()
            with self.lock:
                self.current[auction] = sock
            return sock
        return accepted

    # -- control -------------------------------------------------------------------------

    def _control(self, sock: ssl.SSLSocket) -> None:
        inp, out = sock.makefile("rb"), sock.makefile("wb")
        sock.settimeout(30)  # a client that never sends its request holds a thread for 30 s at most
        header, _ = wire.recv(inp)
        sock.settimeout(None)  # the answer may wait for the setup or the whole close
        try:
            reply = self.handle(header)
        except (SessionError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            reply = {"status": "refused", "reason": f"{pair.ROLES[self.role]}: {exc}"}
        wire.send(out, reply)

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("op")
        if op not in ("open", "close"):
            return {"status": "refused", "reason": f"unknown op {op!r}"}
        with self.lock:
            refusal = self.gate.refusal(req)
        if refusal is not None:
            return {"status": "refused", "reason": refusal}
        spec = {k: v for k, v in req.items() if k not in ("op", "auth")}
        if op == "open":
            grid = spec.get("grid")
            if (not isinstance(grid, list) or len(grid) != spec.get("levels")
                    or not all(isinstance(p, str) and p.isdigit() for p in grid)):
                raise ValueError("open: grid must list one price per level, decimal strings")
            if spec.get("bits") not in range(1, shares.MAX_BITS + 1):
                raise ValueError(f"open: bits must be between 1 and {shares.MAX_BITS}")
            self.intake.open(spec, parse_curve_spec)
            with self.lock:
                self.specs[str(spec["auction"])] = spec
            box = self._session(spec)
            return {"status": "ready", **box.wait("ready", self.timeout), "signer": self.me.signer}
        return self.close(str(spec.get("auction")))

    def _session(self, spec: dict[str, Any]) -> Mailbox:
        """Start an auction's session (the party's steps on a thread) and give it the opening."""
        auction = str(spec["auction"])
        box = Mailbox()
        run = party.keyholder if self.role == 0 else party.evaluator

        def go() -> None:
            try:
                run(box, None, self._link(auction), self.intake)
            except Exception as exc:  # reported to the close; EOF or a socket error: the peer link
                box.send({"type": "error", "reason": f"{type(exc).__name__}: {exc}",
                          "link": isinstance(exc, EOFError | OSError | ConnectionError)})
                self._close_current(auction)  # a key holder waiting on it learns at once

        with self.lock:
            self.sessions[auction] = box
        threading.Thread(target=go, daemon=True, name=f"tfhe-{auction[:10]}").start()
        box.inbox.put({"type": "open", "levels": spec["levels"], "bits": spec["bits"],
                       "intake": {k: spec.get(k) for k in ("auction", "max_bids", "registered")}})
        return box

    def close(self, auction: str) -> dict[str, Any]:
        with self.lock:
            if auction in self.closing:
                raise ValueError(f"close: auction {auction!r} is closing already")
            spec, box = self.specs.get(auction), self.sessions.pop(auction, None)
            if spec is not None:
                self.closing.add(auction)
        if spec is None:
            raise ValueError(f"close: auction {auction!r} is not open here")
        try:
            return self._close(auction, spec, box)
        finally:
            with self.lock:
                self.closing.discard(auction)

    def _close(self, auction: str, spec: dict[str, Any], box: Mailbox | None) -> dict[str, Any]:
        for attempt in range(2):
            if box is None:  # restarted since open, or the first try lost the peer: set up again now
                box = self._session(spec)
                box.wait("ready", self.timeout)
            box.inbox.put({"type": "close"})
            try:
                out = {**box.ready, **box.wait("outcome", self.timeout)}
                break
            except SessionError as exc:
                if not exc.link or attempt:
                    raise
                box = None
        with self.lock:
            self.sessions.pop(auction, None)
            self.specs.pop(auction, None)
            self.current.pop(auction, None)
            stale = self.links.pop(auction, None)  # nothing queued now is for a session of this auction
        while stale is not None and not stale.empty():
            stale.get_nowait().close()
        level = int(out["opened"]["level"] if self.role == 0 else out["level"])
        quantities = out["opened"].get("quantities") if self.role == 0 else out.get("quantities")
        st = outcome.statement(self.role, auction, [str(p) for p in spec["grid"]], out, level, quantities, self.key)
        return {"status": "ok", "outcome": out, "statement": st}


def _listen(addr: tuple[str, int], handle: Any, name: str, block: bool = False,
            ctx: ssl.SSLContext | None = None) -> None:
    """Accept on ``addr``; each connection handled on its own thread (TLS first if ``ctx``),
    so a stranger that never finishes its handshake holds up nobody."""
    listener = socket.create_server(addr)

    def one(raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            if ctx is None:
                handle(raw)
                return
            sock = ctx.wrap_socket(raw, server_side=True)
            try:
                handle(sock)
            finally:
                sock.close()
        except (OSError, ConnectionError, ValueError, EOFError):  # a stranger, or a peer gone: dropped
            raw.close()

    def loop() -> None:
        while True:
            raw, _ = listener.accept()
            threading.Thread(target=one, args=(raw,), daemon=True).start()

    if block:
        loop()
    threading.Thread(target=loop, daemon=True, name=name).start()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mevauction.privacy.tfhe.served")
    ap.add_argument("--role", required=True, choices=pair.ROLES)
    ap.add_argument("--key-file", required=True)
    ap.add_argument("--parties-file", required=True)
    ap.add_argument("--control-key", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--timeout", type=float, default=600.0)
    a = ap.parse_args(argv)
    with open(a.parties_file) as f:
        doc = json.load(f)
    p = Party(pair.ROLES.index(a.role), a.key_file, doc, a.control_key, a.state, a.timeout)
    print(f"{a.role} serving: control {p.me.control}, intake {p.me.intake}"
          + (f", link {p.me.link}" if p.me.link else ""), file=sys.stderr, flush=True)
    p.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
