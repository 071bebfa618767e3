"""The two parties as processes: ``python -m mevauction.privacy.twoparty.party ROLE ...``.

Every link is mutual TLS against one CA with pinned names (``tls.make_certificates`` with
three identities: party 0 the garbler, 1 the evaluator, 2 the auctioneer), so only the
auctioneer submits jobs and closes them, and the garbler only talks to the evaluator.

One job: the auctioneer sends each party its XOR shares of the n bids (``job``). Before
the deadline the two run the base OTs and the garbler garbles the circuit for n bids and
ships the tables (nothing here depends on a bid). At ``close`` the evaluator's share bits
go through the IKNP extension as correlated OTs, the garbler sends its share labels
masked by the OT labels, the evaluator evaluates and returns the output labels; the
garbler checks each is one of the wire's two labels (so a cheating evaluator cannot
claim another result) and both report the decoded outcome to the auctioneer.

With a bidder intake (``intake``) the auctioneer instead ``open``s an auction: the two
parties do the bid-independent part (base OTs, extension, garbling) at once for max_bids
rows, bidders send each party its own share, and the auctioneer's ``job`` (``"intake":
true``) is the deadline: the parties agree on the bids both hold and fill the rows.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mevauction.errors import host_port
from mevauction.eth.keccak import keccak
from mevauction.privacy import envelope, messages
from mevauction.privacy.client import exit_with_parent
from mevauction.privacy.twoparty import binding, circuits, dualex, execution
from mevauction.privacy.twoparty.intake import Intake, intake_job
from mevauction.privacy.twoparty.link import AUCTIONEER, EVALUATOR, GARBLER, NAMES, Channel, peer_role
from mevauction.privacy.twoparty.store import IntakeStore

SECURITY = circuits.SECURITY


# -- authenticated framed channel ------------------------------------------------------

def _ctx(tls_dir: str, me: int, server: bool) -> ssl.SSLContext:
    cfg = Path(tls_dir) / ".config"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cfg / f"party_{me}.crt", cfg / f"party_{me}.key")
    ctx.load_verify_locations(cfg / "mpyc_ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED  # both ends show a certificate of the CA
    ctx.check_hostname = False  # peers are named by role in the certificate, checked below
    return ctx


def connect(tls_dir: str, me: int, host: str, port: int, expect: int, timeout: float = 30.0) -> Channel:
    deadline = time.monotonic() + timeout
    while True:
        try:
            raw = socket.create_connection((host, port), timeout=timeout)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock = _ctx(tls_dir, me, server=False).wrap_socket(raw)
    if peer_role(sock) != expect:
        sock.close()
        raise ConnectionError(f"expected the {NAMES[expect]}, the peer showed another certificate")
    return Channel(sock)


def prepare(role: int, job: dict, link: Channel) -> tuple | dualex.Dual:
    """The bid-independent part of the job: both executions, or the semi-honest one."""
    if circuits.security(job) == "malicious":
        return dualex.prepare(role, job, link)
    return (execution.garbler_prepare if role == GARBLER else execution.evaluator_prepare)(job, link)


def _inputs(role: int, state: tuple | dualex.Dual, link: Channel) -> dualex.Inputs | np.ndarray | None:
    if isinstance(state, dualex.Dual):
        return dualex.inputs(role, state, link)
    if role == GARBLER:
        execution.garbler_inputs(state, link)
        return None
    return execution.evaluator_inputs(state, link)


def _finish(role: int, state: tuple | dualex.Dual, labels: Any, link: Channel, job: dict,
            key: bytes | None) -> tuple[dict, dict | None, dict | None]:
    """The outcome, this party's signed statement and (dual execution) the peer's."""
    if isinstance(state, dualex.Dual):
        assert isinstance(labels, dualex.Inputs)
        return dualex.finish(role, state, labels, link, job, lambda o: statement(role, job, o, key))
    if role == GARBLER:
        outcome = execution.garbler_finish(state, link, job)
        link.send(json.dumps(outcome).encode())
    else:
        assert labels is not None
        outcome = execution.evaluator_finish(state, labels, link)
    return outcome, statement(role, job, outcome, key), None


def serve(role: int, tls_dir: str, port: int, peer: tuple[str, int] | None, host: str = "127.0.0.1",
          remote_shutdown: bool = True, close_timeout: float | None = None, key: bytes | None = None,
          intake: Intake | None = None) -> None:
    """Serve the auctioneer's jobs: until it says ``shutdown`` if ``remote_shutdown``, else forever.

    A long-running party (``mevauction sealed party serve``) refuses ``shutdown``: only its
    operator stops it. ``close_timeout`` bounds every wait on the auctioneer (job → close)
    and on the peer, so a silent auctioneer or peer aborts the job instead of holding the party.
    With ``key`` the party signs each outcome (``statement``) for the transcript. With
    ``intake`` (already serving bidders) the auctioneer may ``open`` an auction and its
    ``job`` with ``"intake": true`` runs on the shares the bidders submitted.
    """
    listener = socket.create_server((host, port))
    ctx = _ctx(tls_dir, role, server=True)

    def accept(want: int, timeout: float | None = None) -> Channel:
        listener.settimeout(timeout)  # waiting for the garbler is bounded; waiting for a job is not
        while True:
            raw, _ = listener.accept()
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.settimeout(10)  # a client that never finishes its handshake cannot hold the party
            try:
                chan = Channel(ctx.wrap_socket(raw, server_side=True))
                chan.sock.settimeout(None)
            except (ssl.SSLError, OSError):
                raw.close()
                continue  # no certificate of the CA: refused in the handshake
            if peer_role(chan.sock) == want:
                return chan
            chan.close()

    def peer_link() -> Channel:
        if role == GARBLER:
            if peer is None:
                raise ValueError("the garbler was started without --peer")
            link = connect(tls_dir, role, peer[0], peer[1], expect=EVALUATOR, timeout=close_timeout or 30.0)
        else:
            link = accept(GARBLER, close_timeout)
        link.sock.settimeout(close_timeout)
        return link

    # bidder intake: per open auction, the link and the circuit garbled for max_bids at open
    prepared: dict[str, tuple[Channel, Any, dict]] = {}
    while True:
        boss = accept(AUCTIONEER)
        boss.sock.settimeout(close_timeout)
        try:
            while True:
                msg = boss.recv_json()
                if msg.get("op") == "shutdown":
                    if not remote_shutdown:
                        raise ValueError("remote shutdown is disabled: the operator stops this party")
                    boss.close()
                    return
                if msg.get("op") == "info":  # the keys the auctioneer pins and relays seal to
                    boss.send_json({"status": "info", "role": role,
                                    "signer": None if key is None else messages.address(key),
                                    "encryption_key": None if intake is None or intake.box_key is None
                                    else envelope.public_key(intake.box_key)})
                    continue
                if msg.get("op") == "bids":  # sealed bids the auctioneer relays, taken in this order
                    if intake is None or not isinstance(msg.get("bids"), list):
                        raise ValueError("bids: needs a bidder intake and a list of bids")
                    boss.send_json({"status": "ok", "replies": [intake.accept(b) if isinstance(b, dict) else
                                                                {"ok": False, "reason": "expected an object"}
                                                                for b in msg["bids"]]})
                    continue
                if msg.get("op") == "open":  # an auction bidders submit their shares to (``intake``)
                    if intake is None:
                        raise ValueError("this party was started without a bidder intake")
                    reply = intake.open(msg)
                    prepared[reply["auction"]] = _prepare_open(role, peer_link(), intake, reply["auction"])
                    boss.send_json(reply)
                    continue
                if msg.get("op") != "job":
                    raise ValueError(f"unknown op {msg.get('op')!r}")
                from_intake = msg.get("intake") is True
                if from_intake and intake is None:
                    raise ValueError("this party was started without a bidder intake")
                if not from_intake and msg.get("mechanism") not in circuits.MECHANISMS:
                    raise ValueError(f"mechanism {msg.get('mechanism')!r} has no two-party circuit")
                ready = prepared.pop(str(msg.get("auction")), None) if from_intake else None
                if from_intake:
                    link, ready = _job_link(role, ready, peer_link, str(msg.get("auction")))
                else:
                    link = peer_link()
                try:
                    t0 = time.perf_counter()
                    state = None
                    if from_intake:
                        assert intake is not None
                        msg = intake_job(role, link, intake, msg)
                        if ready and msg["k"] == ready[2]["k"] and msg["n"] <= ready[2]["n"]:
                            state, msg = _with_shares(role, ready[1], msg, ready[2])
                    if state is None:  # both parties decide alike: same agreed n and k
                        state = prepare(role, msg, link)
                    # "intake": the shares' labels move as the bids arrive; "close": only after the deadline
                    at_intake = msg.get("inputs", "close") == "intake"
                    labels = _inputs(role, state, link) if at_intake else None
                    boss.send_json({"status": "ready", "preprocess_s": time.perf_counter() - t0,
                                    "bidders": msg.get("bidders"), "excluded": msg.get("excluded", 0)})
                    # a bidder-intake job is itself the close: no second round trip to the auctioneer
                    if not from_intake and boss.recv_json().get("op") != "close":
                        raise ValueError("expected close")
                    t1 = time.perf_counter()
                    if not at_intake:
                        labels = _inputs(role, state, link)
                    outcome, signed, peer_signed = _finish(role, state, labels, link, msg, key)
                    boss.send_json({"status": "ok", "outcome": outcome, "close_s": time.perf_counter() - t1,
                                    "bytes_sent": link.sent, "statement": signed, "peer_statement": peer_signed})
                finally:
                    link.close()
        except (ConnectionError, ValueError, KeyError, TypeError, json.JSONDecodeError, OSError) as exc:
            try:
                boss.send_json({"status": "aborted", "reason": f"{NAMES[role]}: {exc}"})
            except OSError:
                pass
            boss.close()


def _job_link(role: int, ready: tuple | None, peer_link, auction: str) -> tuple[Channel, tuple | None]:
    """The peer link for a bidder-intake job, and the preparation made at ``open`` if both
    parties still have it. A party restarted since ``open`` has none (only its acknowledged
    shares, ``store``) and the survivor's prepared link is dead: then both take a fresh link
    and garble at the close. The garbler says which it is on the link it uses."""
    if role == GARBLER:
        if ready is not None:
            try:
                ready[0].send_json({"job": auction, "prepared": True})
                if ready[0].recv_json().get("prepared") is True:
                    return ready[0], ready
            except (OSError, ConnectionError, ValueError):
                pass  # the prepared link is dead or stale: both fall back to a fresh link below
            ready[0].close()
        link = peer_link()
        link.send_json({"job": auction, "prepared": False})
        return link, None
    if ready is not None:
        try:
            if ready[0].recv_json() == {"job": auction, "prepared": True}:
                ready[0].send_json({"prepared": True})
                return ready[0], ready
        except (OSError, ConnectionError, ValueError):
            pass  # as on the garbler's side: a fresh link below
        ready[0].close()
    link = peer_link()
    if link.recv_json() != {"job": auction, "prepared": False}:
        link.close()
        raise ValueError("the garbler started another job")
    return link, None


def _prepare_open(role: int, link: Channel, intake: Intake, auction: str) -> tuple[Channel, Any, dict]:
    """At ``open``: base OTs, extension and the circuit for max_bids rows, before any bid.

    The rows the bidders do not fill are zeros at both parties (bid 0, after every real
    bid): ties go to the earliest row, so a zero row never wins, never sets a second or
    (k+1)-th price above a real one and never beats β0 — the outcome is the one for the
    real bids (checked against the clear mechanisms in the tests)."""
    try:
        if role == GARBLER:
            link.send_json({"auction": auction})
        elif link.recv_json().get("auction") != auction:
            raise ValueError("the garbler prepared another auction")
        pad = intake.padded_job(auction)
        return link, prepare(role, pad, link), pad
    except BaseException:
        link.close()
        raise


def _with_shares(role: int, state: Any, job: dict, pad: dict) -> tuple[Any, dict]:
    """The prepared state with the agreed shares in the first rows of each block (bids, and
    caps if any) and zeros after them; the job with its MACs padded alike (a padding row
    is public: zero at both parties)."""
    n, total = int(job["n"]), int(pad["n"])
    head = 1 if job["mechanism"] == "builder" else 0

    def padded(column: list, filler: Any) -> list:
        body = column[head:]
        blocks = [body[:n], body[n:]] if job.get("capped") is True else [body]
        return column[:head] + [x for b in blocks for x in [*b, *[filler] * (total - n)]]

    full = {**job, "n": total, "shares": padded(list(job["shares"]), "0")}
    if execution.bound(job):
        full["macs"] = padded(list(job["macs"]), binding.public(0))
    rows = execution._input_bits(full)
    ready = state.with_rows(rows) if isinstance(state, dualex.Dual) else \
        (*state[:2], rows, *state[3:]) if role == GARBLER else (rows, *state[1:])
    return ready, {**job, **({"macs": full["macs"]} if "macs" in full else {})}


def statement(role: int, job: dict, outcome: dict, key: bytes | None) -> dict | None:
    """What this party vouches for: the auction, the bidders' labels in order, a digest of
    its own shares (so it cannot later claim other inputs) and the decoded outcome."""
    if key is None:
        return None
    shares = messages.canonical({"shares": job["shares"]})
    st = {"auction": str(job.get("auction", "")), "backend": "2pc", "server": role, "mechanism": job["mechanism"],
          "n": int(job["n"]), "k": execution._k(job), "bidders": [str(b) for b in job.get("bidders", [])],
          "shares_digest": "0x" + keccak(shares).hex(), "status": "ok", "outcome": outcome,
          "signer": messages.address(key)}
    return {**st, "signature": messages.sign(messages.statement_digest(st), key)}


def load_key(path: str) -> bytes:
    """The party's persistent signing key: read, or made (mode 0600) on first start, with its
    address written beside it (``PATH.signer.address``) for the published key set. Its
    encryption key (for envelopes a relay forwards) is ``PATH.box``, public key in ``PATH.box.pub``."""
    f = Path(path)
    if not f.exists():
        f.touch(mode=0o600)
        f.write_text(messages.new_key().hex())
    key = messages.key_from_hex(f.read_text().strip(), "--key-file")
    f.with_name(f.name + ".signer.address").write_text(messages.address(key))
    return key


def make_intake(role: int, key_file: str, key: bytes, state: str | None = None) -> Intake:
    """The party's bids of open auctions: relayed envelopes (the ``bids`` op) always, bidders'
    own shares too once it serves a port (``Intake.serve``); with ``state`` (a SQLite file)
    they survive a restart (``store``)."""
    return Intake(role, key, envelope.load_or_create_key(Path(key_file + ".box")),
                  None if state is None else IntakeStore(state))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="mevauction-2pc-party")
    p.add_argument("role", choices=["garbler", "evaluator"])
    p.add_argument("--tls-dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--peer", help="garbler: the evaluator's host:port")
    p.add_argument("--key-file", help="signing key (hex), made if absent")
    p.add_argument("--intake-port", type=int, help="serve bidders' shares on this port (needs --key-file)")
    p.add_argument("--state", help="keep the intake's open auctions and acknowledged shares in this SQLite file")
    p.add_argument("--exit-with-parent", action="store_true", help="exit when the process that started it dies")
    a = p.parse_args(argv)
    if a.exit_with_parent:
        exit_with_parent()
    peer = None
    if a.peer:
        peer = host_port(a.peer, "--peer")
    role = GARBLER if a.role == "garbler" else EVALUATOR
    key = load_key(a.key_file) if a.key_file else None
    intake = None if key is None else make_intake(role, a.key_file, key, a.state)
    if a.intake_port and intake is not None:
        intake.serve("127.0.0.1", a.intake_port, a.tls_dir)
    serve(role, a.tls_dir, a.port, peer, key=key, intake=intake)


if __name__ == "__main__":
    main(sys.argv[1:])
