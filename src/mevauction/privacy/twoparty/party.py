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
import secrets
import socket
import ssl
import sys
import time
from pathlib import Path

import numpy as np

from mevauction.eth.keccak import keccak
from mevauction.privacy import envelope, messages
from mevauction.privacy.client import exit_with_parent
from mevauction.privacy.twoparty import circuits, double, garble, ot
from mevauction.privacy.twoparty.intake import Intake, intake_job
from mevauction.privacy.twoparty.link import AUCTIONEER, EVALUATOR, GARBLER, NAMES, Channel, peer_role
from mevauction.privacy.twoparty.store import IntakeStore

POINT = 33  # a compressed secp256k1 point


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


# -- the job ---------------------------------------------------------------------------

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
    if job["mechanism"] == "double":
        return double.job_bits(job)
    return _bits(job["shares"], job)


def _circuit(B, job: dict, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The job's circuit on its input wires (each party's shares XORed in: one wire per bit)."""
    if job["mechanism"] == "double":
        return double.auction(B, job["sides"], labels, np.zeros_like(labels))
    return circuits.auction(B, job["mechanism"], labels, np.zeros_like(labels), k=_k(job),
                            capped=job.get("capped") is True)


def _public(job: dict) -> dict:
    """What the circuit and the decoding need besides the shares (the evaluator keeps it)."""
    return {k: job[k] for k in ("mechanism", "n", "k", "capped", "sides", "grid") if k in job}


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


def garbler_prepare(job: dict, peer: Channel) -> tuple:
    """Base OTs, the OT extension on random choices and the garbled circuit for n bids.

    Nothing here depends on a bid: the evaluator's OTs use random bits r (Beaver's OT
    precomputation), so at the deadline only b ⊕ r crosses, one bit per share bit.
    """
    h = garble.FixedKeyHash()
    a = _input_bits(job)
    sender = ot.ExtSender()
    peer.send(b"".join(sender.setup(peer.recv(POINT))))
    g = garble.Garbler(h)
    w, corrections = ot.correlated_send(h, sender.extend(peer.recv(), a.size), sender.s, g.delta)
    x = g.inputs(a.shape)  # zero labels of the bid wires (bid = the two shares XORed)
    outs = _circuit(g, job, x)
    peer.send(corrections.tobytes() + g.zero.tobytes() + g.table_bytes())
    return g, x, a, outs, w


def garbler_inputs(state: tuple, peer: Channel) -> None:
    """The evaluator holds w ⊕ r·Δ and sends d = b ⊕ r; x ⊕ w ⊕ (a ⊕ d)·Δ completes the bid's label."""
    g, x, a, _, w = state
    d = np.unpackbits(np.frombuffer(peer.recv(), dtype=np.uint8), bitorder="little")
    if len(d) < a.size:
        raise ValueError("the evaluator sent too few input bits")
    mine = x.reshape(-1, 2) ^ w ^ garble._mask(a.reshape(-1) ^ d[:a.size], np.broadcast_to(g.delta, w.shape))
    peer.send(mine.tobytes())


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


def evaluator_prepare(job: dict, peer: Channel) -> tuple:
    h = garble.FixedKeyHash()
    b = _input_bits(job)
    receiver = ot.ExtReceiver()
    peer.send(receiver.base.A_bytes)
    raw = peer.recv(ot.KAPPA * POINT)
    if len(raw) != ot.KAPPA * POINT:
        raise ValueError("base OT: wrong number of points")
    receiver.setup([raw[i:i + POINT] for i in range(0, len(raw), POINT)])
    r = np.frombuffer(secrets.token_bytes(b.size), dtype=np.uint8) & 1  # random choices, not the shares
    u, t = receiver.extend(r)
    peer.send(u)
    blob = np.frombuffer(peer.recv(), dtype=np.uint64)
    m = b.size
    if len(blob) < 2 * m + 2:
        raise ValueError("the garbler sent too short a circuit")
    held = ot.correlated_receive(h, t, r, blob[:2 * m].reshape(m, 2))
    return b, r, held, h, blob[2 * m:2 * m + 2].copy(), blob[2 * m + 2:], _public(job)


def evaluator_inputs(state: tuple, peer: Channel) -> np.ndarray:
    b, r, held = state[:3]
    peer.send(np.packbits(b.reshape(-1) ^ r, bitorder="little").tobytes())
    mine = np.frombuffer(peer.recv(), dtype=np.uint64).reshape(-1, 2)
    if mine.shape != held.shape:
        raise ValueError("the garbler sent the wrong number of input labels")
    return (mine ^ held).reshape(*b.shape, 2)


def evaluator_finish(state: tuple, labels: np.ndarray, peer: Channel) -> dict:
    h, zero, tables, public = state[3:]
    e = garble.Evaluator(tables, zero, h)
    outs = _circuit(e, public, labels)
    if e.gates * 4 != len(tables):
        raise ValueError("the garbled circuit does not match the circuit evaluated")
    peer.send(b"".join(np.ascontiguousarray(v).reshape(-1, 2).tobytes() for v in outs.values()))
    # the evaluator learns the outcome from the garbler's report (it cannot decode alone)
    return json.loads(peer.recv(1 << 24))


def _inputs(role: int, state: tuple, link: Channel) -> np.ndarray | None:
    if role == GARBLER:
        garbler_inputs(state, link)
        return None
    return evaluator_inputs(state, link)


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
    prepared: dict[str, tuple[Channel, tuple, dict]] = {}
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
                            state = _with_shares(role, ready[1], msg, ready[2])
                    if state is None:  # both parties decide alike: same agreed n and k
                        state = (garbler_prepare if role == GARBLER else evaluator_prepare)(msg, link)
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
                    if role == GARBLER:
                        outcome = garbler_finish(state, link, msg)
                        link.send(json.dumps(outcome).encode())
                    else:
                        assert labels is not None
                        outcome = evaluator_finish(state, labels, link)
                    boss.send_json({"status": "ok", "outcome": outcome, "close_s": time.perf_counter() - t1,
                                    "bytes_sent": link.sent, "statement": statement(role, msg, outcome, key)})
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


def _prepare_open(role: int, link: Channel, intake: Intake, auction: str) -> tuple[Channel, tuple, dict]:
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
        return link, (garbler_prepare if role == GARBLER else evaluator_prepare)(pad, link), pad
    except BaseException:
        link.close()
        raise


def _with_shares(role: int, state: tuple, job: dict, pad: dict) -> tuple:
    """The prepared state with the agreed shares in the first rows of each block (bids, and
    caps if any) and zeros after them."""
    shares, n, total = list(job["shares"]), int(job["n"]), int(pad["n"])
    head = shares[:1] if job["mechanism"] == "builder" else []
    body = shares[len(head):]
    blocks = [body[:n], body[n:]] if job.get("capped") is True else [body]
    rows = _bits(head + [x for b in blocks for x in [*b, *["0"] * (total - n)]], pad)
    return (*state[:2], rows, *state[3:]) if role == GARBLER else (rows, *state[1:])


def statement(role: int, job: dict, outcome: dict, key: bytes | None) -> dict | None:
    """What this party vouches for: the auction, the bidders' labels in order, a digest of
    its own shares (so it cannot later claim other inputs) and the decoded outcome."""
    if key is None:
        return None
    shares = messages.canonical({"shares": job["shares"]})
    st = {"auction": str(job.get("auction", "")), "backend": "2pc", "server": role, "mechanism": job["mechanism"],
          "n": int(job["n"]), "k": _k(job), "bidders": [str(b) for b in job.get("bidders", [])],
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
        host, _, port = a.peer.rpartition(":")
        peer = (host, int(port))
    role = GARBLER if a.role == "garbler" else EVALUATOR
    key = load_key(a.key_file) if a.key_file else None
    intake = None if key is None else make_intake(role, a.key_file, key, a.state)
    if a.intake_port and intake is not None:
        intake.serve("127.0.0.1", a.intake_port, a.tls_dir)
    serve(role, a.tls_dir, a.port, peer, key=key, intake=intake)


if __name__ == "__main__":
    main(sys.argv[1:])
