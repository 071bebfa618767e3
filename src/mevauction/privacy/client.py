"""The coordinator and bidder side: seal bids, run a committee, collect the outcome.

``LocalCommittee`` starts m server processes on 127.0.0.1 (each its own process group,
TLS on every link and on intake by default, the auctioneer's control key pinned) and
stops them. ``seal`` turns a bid into a signed header plus one share message per server,
each sealed to that server's encryption key when the keys are given (``envelope``), so
whoever relays the bid cannot read it. ``Coordinator`` (holding the auctioneer's key:
:class:`CommitteeAccess`) opens an auction, submits sealed bids, waits for
preprocessing, closes the auction at the deadline and gathers the servers' signed
statements; the outcome counts only if every server reports the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mevauction.privacy import envelope, messages
from mevauction.privacy.field import (
    DEFAULT_BITS,
    bit_checks,
    bits_of,
    check_coefficients,
    modulus_for,
    share,
    share_many,
    threshold_for,
)

SRC_DIR = str(Path(__file__).resolve().parents[2])


@dataclass
class SealedBid:
    """A bid as its bidder knows it: label, secret values (one, or a curve's), key."""

    bidder: str
    values: list[int]
    side: str = ""
    key: bytes | None = None  # secp256k1 private key (32 bytes); None: a fresh one per seal


@dataclass
class Sealed:
    header: messages.BidHeader
    payloads: list[dict[str, Any]]  # one "bid" request per server
    opening: dict[str, Any]  # what the bidder publishes if it wins
    checks: list[list[int]] | None = None  # per server, the check values its receipt must sign

    @property
    def digest(self) -> str:
        return "0x" + self.header.digest().hex()


def seal(auction: str, bid: SealedBid, parties: int, bits: bool = True, width: int = DEFAULT_BITS,
         recipients: list[str] | None = None) -> Sealed:
    """Commit, share, sign: the messages one bidder sends to the m servers.

    With ``bits`` (every mechanism but the double auction) the single bid is shared as
    its ``width`` bits, which lets the committee check its range without a comparison.
    Shares are in the field of that width (``field.modulus_for``). With ``recipients``
    (the servers' encryption keys, in server order) server j's shares and nonce travel
    as an envelope only server j opens, bound to the signed header and to j.
    """
    key = bid.key or messages.new_key()
    salt = messages.random_salt()
    secret = bits_of(bid.values[0], width) if bits else bid.values
    p = modulus_for(width)
    per_value = share_many([*secret, secrets.randbelow(p)] if bits else secret, parties, p=p)
    if bits:  # the check masks (field.bit_checks): a random ρ at degree t (above), 0 at degree 2t
        per_value.append(share(0, parties, 2 * threshold_for(parties), p=p))
    per_server = [[shares[j] for shares in per_value] for j in range(parties)]
    nonces = [messages.random_salt() for _ in range(parties)]
    hashes = tuple(messages.share_hash(auction, bid.bidder, j, per_server[j], nonces[j]) for j in range(parties))
    header = messages.BidHeader(auction=auction, bidder=bid.bidder, signer=messages.address(key), side=bid.side,
                                commitment=messages.commitment(auction, bid.bidder, bid.values, salt),
                                share_hashes=hashes)
    header = header.signed(key)
    hexes = [[hex(s) for s in per_server[j]] for j in range(parties)]
    plain = [{"shares": hexes[j], "nonce": "0x" + nonces[j].hex()} for j in range(parties)]
    if recipients is None:
        payloads = [{"op": "bid", "header": header.to_json(), **plain[j]} for j in range(parties)]
    else:
        if len(recipients) != parties:
            raise ValueError(f"expected {parties} server keys, got {len(recipients)}")
        payloads = [{"op": "bid", "header": header.to_json(),
                     "ciphertext": envelope.encrypt(recipients[j], messages.canonical(plain[j]),
                                                    header.digest() + bytes([j]))} for j in range(parties)]
    opening = {"bidder": bid.bidder, "values": list(bid.values), "salt": "0x" + salt.hex(),
               "shares": [list(h) for h in hexes],
               "nonces": ["0x" + n.hex() for n in nonces]}
    checks = None
    if bits:
        coefficients = check_coefficients(header.digest(), width, p)
        checks = [bit_checks(header.digest(), per_server[j], p, coefficients) for j in range(parties)]
    return Sealed(header, payloads, opening, checks)


# -- local committee ------------------------------------------------------------------

KEY_SET_FORMAT = "mevauction.committee/1"


def key_set(signers: list[str], encryption_keys: list[str]) -> dict[str, Any]:
    return {"format": KEY_SET_FORMAT, "members": [{"index": i, "signer": s.lower(), "encryption_key": k}
                                                   for i, (s, k) in enumerate(zip(signers, encryption_keys,
                                                                                   strict=True))]}


def exit_with_parent(poll_seconds: float = 0.5) -> None:
    """Exit as soon as this process is orphaned (its parent died, even by SIGKILL).

    A local committee's servers run in their own sessions, so a signal to the
    parent's process group does not reach them; polling the parent id does.
    """
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(3)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class CommitteeAccess:
    """What the auctioneer needs to run auctions on a committee: where its servers take
    requests, the key the servers pinned as the auctioneer's, and the CA of their TLS
    certificates (None: plain TCP)."""

    intake: list[tuple[str, int]]
    control_key: bytes
    tls_dir: str | None = None


class LocalCommittee:
    """m committee servers as separate processes on one host; a context manager.

    ``control_key``: the auctioneer's key the servers pin (default: a fresh one).
    ``key_dir``: where server i keeps its encryption key, ``member-<i>.key`` (made by the
    server itself on first start, kept across restarts; default: a temporary directory
    removed at ``stop``).
    """

    def __init__(self, parties: int = 3, host: str = "127.0.0.1", timeout: float = 60.0, tls: bool = True,
                 control_key: bytes | None = None, key_dir: str | None = None):
        if parties < 1:
            raise ValueError("a committee needs at least one server")
        self.parties = parties
        self.host = host
        self.timeout = timeout
        self.tls = tls
        self.control_key = control_key or messages.new_key()
        self._own_keys: tempfile.TemporaryDirectory[str] | None = None
        if key_dir is None:
            self._own_keys = tempfile.TemporaryDirectory(prefix="mevauction-keys-")
            key_dir = self._own_keys.name
        self.key_dir = Path(key_dir)
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[IO[bytes]] = []
        ports = free_ports(2 * parties)
        self.mpc_addresses = [(host, p) for p in ports[:parties]]
        self.intake = [(host, p) for p in ports[parties:]]

    def command(self, i: int) -> list[str]:
        return [sys.executable, "-m", "mevauction", "committee", "serve", "--index", str(i),
                "--parties", ",".join(f"{h}:{p}" for h, p in self.mpc_addresses),
                "--intake", f"{self.intake[i][0]}:{self.intake[i][1]}", "--timeout", str(self.timeout),
                "--control-key", messages.address(self.control_key), "--key-file", str(self.key_file(i)),
                "--exit-with-parent"] + (
                ["--ssl", "--tls-dir", self._tls_dir.name] if self._tls_dir else [])

    def start(self, ready_timeout: float = 30.0, attempts: int = 3) -> LocalCommittee:
        """Start the servers; on a port taken meanwhile by another process, retry on new ports."""
        for attempt in range(attempts):
            try:
                return self._start_once(ready_timeout)
            except RuntimeError:
                if attempt == attempts - 1:
                    raise
                ports = free_ports(2 * self.parties)
                self.mpc_addresses = [(self.host, p) for p in ports[: self.parties]]
                self.intake = [(self.host, p) for p in ports[self.parties:]]
        return self

    def _start_once(self, ready_timeout: float) -> LocalCommittee:
        env = dict(os.environ)
        env["PYTHONPATH"] = SRC_DIR + os.pathsep + env.get("PYTHONPATH", "")
        if self.tls and self._tls_dir is None:
            from mevauction.privacy.tls import make_certificates

            self._tls_dir = tempfile.TemporaryDirectory(prefix="mevauction-tls-")
            make_certificates(Path(self._tls_dir.name), self.parties)
        self.logs = [tempfile.TemporaryFile() for _ in range(self.parties)]
        for i in range(self.parties):
            self.procs.append(subprocess.Popen(self.command(i), env=env, start_new_session=True,
                                               stdout=subprocess.DEVNULL, stderr=self.logs[i]))
        deadline = time.monotonic() + ready_timeout
        for i, (host, port) in enumerate(self.intake):
            while True:
                if self.procs[i].poll() is not None:
                    err = self.log(i).strip().splitlines()
                    self._stop_processes()
                    raise RuntimeError(f"committee server {i} exited: {err[-1] if err else 'no output'}")
                try:
                    socket.create_connection((host, port), timeout=0.5).close()
                    if not self.key_file(i).with_name(f"member-{i}.key.signer.address").exists():
                        raise OSError("no public key yet")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self._stop_processes()
                        raise RuntimeError(f"committee server {i} did not start within {ready_timeout:g} s") from None
                    time.sleep(0.05)
        return self

    def key_file(self, i: int) -> Path:
        return (self.key_dir / f"member-{i}.key").resolve()

    def key_set(self) -> dict[str, Any]:
        """The committee's published key set (``mevauction.committee/1``): per server, the
        address whose signature its statements carry and its encryption key. Transcripts
        are verified against it (``sealed verify --committee-keys``)."""
        return key_set([self.key_file(i).with_name(f"member-{i}.key.signer.address").read_text().strip()
                        for i in range(self.parties)], self.member_keys())

    def member_keys(self) -> list[str]:
        """The servers' encryption public keys, in server order (each written by its server)."""
        return [self.key_file(i).with_name(f"member-{i}.key.pub").read_text().strip() for i in range(self.parties)]

    def access(self) -> CommitteeAccess:
        return CommitteeAccess(list(self.intake), self.control_key, self._tls_dir.name if self._tls_dir else None)

    def coordinator(self) -> Coordinator:
        return Coordinator(self.access())

    def log(self, i: int) -> str:
        """What server i wrote to stderr so far."""
        self.logs[i].seek(0)
        return self.logs[i].read().decode(errors="replace")

    def kill(self, i: int) -> None:
        """Kill server i at once (failure tests)."""
        _kill_group(self.procs[i], signal.SIGKILL)

    def _stop_processes(self) -> None:
        for p in self.procs:
            _kill_group(p, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _kill_group(p, signal.SIGKILL)
                p.wait()
        self.procs = []
        for f in self.logs:
            f.close()
        self.logs = []

    def stop(self) -> None:
        self._stop_processes()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None
        if self._own_keys is not None:
            self._own_keys.cleanup()
            self._own_keys = None

    def __enter__(self) -> LocalCommittee:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kill_group(p: subprocess.Popen[bytes], sig: int) -> None:
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            os.killpg(p.pid, sig)


# -- coordinator ----------------------------------------------------------------------

class Coordinator:
    """Talks to every server's intake port (one connection each, replies in order); signs
    the control requests (open, close, shutdown) with the auctioneer's key."""

    def __init__(self, access: CommitteeAccess):
        self.access = access
        self.intake = access.intake
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.receipts: dict[str, list[dict[str, Any]]] = {}  # bid digest → every server's acceptance

    async def __aenter__(self) -> Coordinator:
        from mevauction.privacy.tls import check_peer, client_context

        tls = client_context(self.access.tls_dir) if self.access.tls_dir else None
        for j, (host, port) in enumerate(self.intake):
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 26, ssl=tls)
            self.streams.append((reader, writer))
            if tls is not None:
                check_peer(writer.get_extra_info("ssl_object"), j)
        return self

    def signed(self, request: dict[str, Any]) -> dict[str, Any]:
        return messages.sign_control(request, self.access.control_key)

    async def __aexit__(self, *exc: object) -> None:
        for _, w in self.streams:
            w.close()

    async def _exchange(self, j: int, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        reader, writer = self.streams[j]
        writer.write(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
        await writer.drain()
        replies = []
        for _ in requests:
            line = await reader.readline()
            if not line:
                raise ConnectionError(f"server {j} closed the connection")
            replies.append(json.loads(line))
        return replies

    async def each(self, per_server: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]] | Exception]:
        """Send each server its requests; per server the replies, or the error."""
        out = await asyncio.gather(*(self._exchange(j, reqs) for j, reqs in enumerate(per_server)),
                                   return_exceptions=True)
        return [_error_or_value(r) for r in out]

    async def all(self, request: dict[str, Any]) -> list[dict[str, Any] | Exception]:
        out = await self.each([[request] for _ in self.intake])
        return [r if isinstance(r, Exception) else r[0] for r in out]

    async def info(self) -> list[dict[str, Any]]:
        return [_reply_or_raise(r) for r in await self.all({"op": "info"})]

    async def open(self, spec: dict[str, Any]) -> None:
        for j, r in enumerate(await self.all(self.signed({"op": "open", **spec}))):
            if isinstance(r, Exception) or not r.get("ok"):
                raise RuntimeError(f"server {j} refused the auction: {r}")

    async def submit(self, sealed: list[Sealed]) -> list[str | None]:
        """Send every bid's shares; per bid None (accepted everywhere) or the rejection reason."""
        out = await self.each([[s.payloads[j] for s in sealed] for j in range(len(self.intake))])
        reasons: list[str | None] = [None] * len(sealed)
        for j, replies in enumerate(out):
            if isinstance(replies, Exception):
                return [f"server {j} unreachable: {replies}"] * len(sealed)
            for i, r in enumerate(replies):
                if not r.get("ok") and reasons[i] is None:
                    reasons[i] = f"server {j}: {r.get('reason')}"
                if r.get("ok"):
                    self.receipts.setdefault(sealed[i].digest, [{}] * len(self.intake))[j] = {
                        "server": j, "published": r.get("published"), "receipt": r.get("receipt")}
        return reasons

    async def confirm(self, sealed: list[Sealed]) -> list[str]:
        """Forward every accepted bid's receipts to every server, which then hold each other
        to them at agreement. Returns complaints: a server whose signed check values are not
        the ones its shares give (``Sealed.checks``) — it is trying to have the bid excluded."""
        complaints: list[str] = []
        per_server: list[list[dict[str, Any]]] = [[] for _ in self.intake]
        for s in sealed:
            got = self.receipts.get(s.digest)
            if got is None or any(not r for r in got):
                continue
            for j, r in enumerate(got):
                if s.checks is not None and [str(v) for v in s.checks[j]] != r["published"]:
                    complaints.append(f"server {j} signed check values for {s.header.bidder}'s bid other than "
                                      "its shares give (its signed receipt is the proof)")
            for j in range(len(self.intake)):
                per_server[j].append(confirm_request(s.header.auction, s.digest, got))
        await self.each(per_server)
        return complaints

    async def wait_ready(self, auction: str, timeout: float = 300.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            replies = await self.all({"op": "status", "auction": auction})
            ready = [r for r in replies if isinstance(r, dict) and r.get("ready")]
            if len(ready) == len(replies):
                return max(r["preprocess_s"] for r in ready)
            if any(isinstance(r, Exception) or r.get("aborted") for r in replies) or time.monotonic() > deadline:
                return -1.0  # the close then collects each server's statement (an aborted one says why)
            await asyncio.sleep(0.05)

    async def close(self, auction: str) -> tuple[list[dict[str, Any] | Exception], float]:
        t0 = time.perf_counter()
        statements = await self.all(self.signed({"op": "close", "auction": auction}))
        return statements, time.perf_counter() - t0

    async def shutdown(self) -> None:
        await self.all(self.signed({"op": "shutdown"}))


def _error_or_value(result: list[dict[str, Any]] | BaseException) -> list[dict[str, Any]] | Exception:
    """One server's outcome from ``gather(return_exceptions=True)``: its error is kept, but a
    cancellation or interrupt (a BaseException only) is re-raised, not mistaken for a reply."""
    if isinstance(result, BaseException) and not isinstance(result, Exception):
        raise result
    return result


def _reply_or_raise(reply: dict[str, Any] | Exception) -> dict[str, Any]:
    if isinstance(reply, Exception):
        raise reply
    return reply


def confirm_request(auction: str, digest: str, replies: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``confirm`` forwarding one bid's receipts (every server's accepting reply) to a server."""
    bundle = [{"published": r["published"], "signature": r["receipt"]} for r in replies]
    return {"op": "confirm", "auction": auction, "digest": digest, "receipts": bundle}


def new_auction_id() -> str:
    return "auction-" + uuid.uuid4().hex[:12]


def agreed_outcome(statements: list[dict[str, Any] | Exception]) -> tuple[dict[str, Any] | None, str]:
    """The outcome if every server signed the same one; else None and why."""
    signed: list[dict[str, Any]] = []
    for j, s in enumerate(statements):
        if isinstance(s, Exception):
            return None, f"server {j} unreachable: {s}"
        if s.get("status") != "ok":
            return None, f"server {j}: {s.get('reason') or s.get('status')}"
        signed.append(s)
    keys = {json.dumps([s["outcome"], s["admitted"], s["excluded"]], sort_keys=True) for s in signed}
    if len(keys) != 1:
        return None, "servers disagree on the outcome"
    return signed[0]["outcome"], ""


@dataclass
class RunResult:
    """One auction's public record: what the report and the transcript are made of."""

    auction: str
    mechanism: str
    parties: int
    outcome: dict[str, Any] | None
    reason: str
    statements: list[dict[str, Any]]
    headers: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    openings: list[dict[str, Any]]
    elapsed_s: float
    preprocess_s: float
    spec: dict[str, Any] = field(default_factory=dict)
    committee: dict[str, Any] = field(default_factory=dict)  # the key set the servers announced (info)
    ready_s: float = 0.0  # open → all bids submitted and confirmed and every server ready (sealing included)

    @property
    def ok(self) -> bool:
        return self.outcome is not None


async def run_on(access: CommitteeAccess, mechanism: str, bids: list[SealedBid], *, k: int = 1,
                 grid: list[int] | None = None, max_bids: int | None = None,
                 arrivals_s: list[float] | None = None, bits: int = DEFAULT_BITS) -> RunResult:
    """Run one auction on a running committee: open, submit, let preprocessing finish, close.

    ``bits`` is the bid width l: every bid must be in [0, 2^l) (64 by default).
    For ``stream`` auctions, ``arrivals_s`` paces the bids: bid i is sent
    ``arrivals_s[i]`` seconds after the first (as the relay received them).
    A reserve without a key of its own is signed with the auctioneer's key, the only one
    the servers take a reserve from. Every share message is sealed to its server's key.
    """
    parties = len(access.intake)
    auction = new_auction_id()
    spec = {"auction": auction, "mechanism": mechanism, "max_bids": max_bids or max(1, len(bids)),
            "k": k, "grid": grid or [], "bits": bits}
    bids = [SealedBid(b.bidder, b.values, b.side, access.control_key) if b.side == "reserve" and b.key is None
            else b for b in bids]
    async with Coordinator(access) as co:
        info = await co.info()
        recipients = [str(i["encryption_key"]) for i in info]
        opened = time.perf_counter()
        await co.open(spec)
        sealed = [seal(auction, b, parties, bits=mechanism != "double", width=bits, recipients=recipients)
                  for b in bids]
        if mechanism == "stream":  # bids arrive after the slot's preprocessing, one by one
            preprocess_s = await co.wait_ready(auction)
            reasons: list[str | None] = []
            start = time.monotonic()
            for i, s in enumerate(sealed):
                if arrivals_s is not None:
                    await asyncio.sleep(max(0.0, start + arrivals_s[i] - time.monotonic()))
                reasons.append((await co.submit([s]))[0])
        else:
            reasons = await co.submit(sealed)
            complaints = await co.confirm([s for s, r in zip(sealed, reasons, strict=True) if r is None])
            preprocess_s = await co.wait_ready(auction)
        ready_s = time.perf_counter() - opened  # open → every bid taken and every server ready
        statements, elapsed = await co.close(auction)
    outcome, reason = agreed_outcome(statements)
    if mechanism != "stream" and complaints:  # a server cheated at intake: no outcome counts
        outcome, reason = None, "; ".join(complaints)
    accepted = [s for s, r in zip(sealed, reasons, strict=True) if r is None]
    winners = set(outcome["winners"]) if outcome else set()
    # A double auction's traders never open their curves: the outcome is price and quantities.
    openings = [] if mechanism == "double" else [s.opening for s in accepted if s.header.bidder in winners]
    return RunResult(auction, mechanism, parties, outcome, reason,
                     [s if isinstance(s, dict) else {"status": "unreachable", "reason": str(s)} for s in statements],
                     [s.header.to_json() for s in accepted],
                     [{"bidder": s.header.bidder, "reason": r}
                      for s, r in zip(sealed, reasons, strict=True) if r is not None],
                     openings, elapsed, preprocess_s, spec, key_set([str(i["signer"]) for i in info], recipients),
                     ready_s)


def run_local(mechanism: str, bids: list[SealedBid], parties: int = 3, **kwargs: Any) -> RunResult:
    """Start a local committee, run one auction, shut the committee down."""
    with LocalCommittee(parties) as committee:
        async def go() -> RunResult:
            result = await run_on(committee.access(), mechanism, bids, **kwargs)
            if result.ok:
                async with committee.coordinator() as co:
                    await co.shutdown()
            return result
        return asyncio.run(go())


def privacy_warning(parties: int) -> str | None:
    if threshold_for(parties) == 0:
        return (f"{parties} committee server(s) means threshold 0: MPyC does no secret sharing, "
                "every server sees every bid. Use at least 3 for privacy.")
    return None
