"""The auctioneer's side of the two-party backend: start the pair, share the bids, run.

``LocalPair`` starts the garbler and the evaluator as two processes on 127.0.0.1 with
fresh TLS identities (a CA and three certificates: garbler, evaluator, auctioneer) and
stops them. ``run_pair`` XOR-shares each bid (a uniformly random 64-bit mask to one
party, bid ⊕ mask to the other, so neither sees a bid), sends each party its shares,
waits until both have preprocessed, closes at the deadline and accepts the outcome only
if both parties report the same one. The elapsed time is deadline → result.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mevauction.errors import host_port
from mevauction.privacy import tls
from mevauction.privacy.client import SRC_DIR, free_ports, key_set
from mevauction.privacy.twoparty import binding, circuits, double, dualex, party


@dataclass
class PairResult:
    ok: bool
    mechanism: str
    winner: int | None = None  # index into the bids
    price: int | None = None
    winners: list[int] = field(default_factory=list)  # topk: the k winners' indices
    quantities: dict[int, int] = field(default_factory=dict)  # double: each trader's quantity at the price
    reason: str = ""
    elapsed_s: float = 0.0
    preprocess_s: float = 0.0
    bytes_sent: list[int] = field(default_factory=list)
    auction: str = ""
    statements: list[dict[str, Any]] = field(default_factory=list)  # each party's signed outcome
    bidders: list[str] = field(default_factory=list)  # the labels the winner indices name, as both parties hold them
    excluded: int = 0  # bidder intake: bids that reached one party only (left out at both)


START_ATTEMPTS = 3  # tries, each on new ports, before a local pair's start fails


class LocalPair:
    """``key_dir``: where the parties keep their signing and encryption keys (default: the
    pair's temporary directory); the service keeps them beside its database, so a restarted
    pair has the keys builders sealed to. ``hold=False`` releases the auctioneer's links
    once both parties answer, for an auctioneer that connects per auction (the service)."""

    def __init__(self, timeout: float = 60.0, key_dir: str | None = None, hold: bool = True) -> None:
        self.timeout, self.hold = timeout, hold
        self._dir = tempfile.TemporaryDirectory(prefix="mevauction-2pc-")
        self.tls_dir = self._dir.name
        self.key_dir = key_dir or self.tls_dir
        self.ports = free_ports(2)
        self.intake_ports = free_ports(2)  # where bidders submit their own shares (``submit``)
        self.procs: list[subprocess.Popen[bytes]] = []
        self._chans: list[party.Channel] = []

    def __enter__(self) -> LocalPair:
        tls.make_certificates(Path(self.tls_dir), 3)
        for attempt in range(START_ATTEMPTS):
            try:
                self._start_once()
                return self
            except BaseException as exc:
                # The ports were free when chosen, not necessarily when a party binds them:
                # another process may take one in between. New ports, as the committee does.
                if not isinstance(exc, OSError) or attempt == START_ATTEMPTS - 1:
                    self.stop()
                    raise
                self._stop_processes(terminate=True)
                self.ports, self.intake_ports = free_ports(2), free_ports(2)
        return self

    def command(self, role: int) -> list[str]:
        """The party process's command line (an attack test swaps in a cheating one)."""
        e_port = self.ports[party.EVALUATOR]
        args = ["--tls-dir", self.tls_dir, "--port", str(self.ports[role]), "--key-file", str(self.key_file(role)),
                "--intake-port", str(self.intake_ports[role]), "--exit-with-parent"]
        if role == party.GARBLER:
            args += ["--peer", f"127.0.0.1:{e_port}"]
        return [sys.executable, "-m", "mevauction.privacy.twoparty.party", party.NAMES[role], *args]

    def _start_once(self) -> None:
        env = {**os.environ, "PYTHONPATH": SRC_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
        g_port, e_port = self.ports
        for cmd in (self.command(party.EVALUATOR), self.command(party.GARBLER)):
            self.procs.append(subprocess.Popen(cmd, env=env, start_new_session=True,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        evaluator, garbler = self.procs
        self._chans = [self._connect(g_port, party.GARBLER, garbler), self._connect(e_port, party.EVALUATOR, evaluator)]
        for c in self._chans:
            c.sock.settimeout(self.timeout)
        if not self.hold:
            for c in self._chans:
                c.close()
            self._chans = []

    def _connect(self, port: int, role: int, proc: subprocess.Popen[bytes]) -> party.Channel:
        """The auctioneer's link to a party, failing at once if the party has exited
        (e.g. its port was taken) instead of waiting out the whole timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            if proc.poll() is not None:
                raise ConnectionError(f"the {party.NAMES[role]} exited with {proc.returncode} (port {port} taken?)")
            try:
                return party.connect(self.tls_dir, party.AUCTIONEER, "127.0.0.1", port, expect=role, timeout=0.5)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def parties(self) -> dict[str, Any]:
        """This pair as a ``mevauction.2pc-parties/1`` document, bidder intakes included."""
        return {"format": PARTIES_FORMAT, "tls_dir": self.tls_dir,
                **{name: f"127.0.0.1:{port}" for name, port in zip(("garbler", "evaluator"), self.ports, strict=True)},
                **{f"{name}_intake": f"127.0.0.1:{port}"
                   for name, port in zip(("garbler", "evaluator"), self.intake_ports, strict=True)}}

    @property
    def chans(self) -> list[party.Channel]:
        return self._chans

    @property
    def control(self) -> list[tuple[str, int]]:
        """The parties' control addresses (garbler, evaluator), where the auctioneer connects."""
        return [("127.0.0.1", port) for port in self.ports]

    def key_file(self, role: int) -> Path:
        return Path(self.key_dir) / f"{party.NAMES[role]}.key"

    def key_set(self) -> dict[str, Any]:
        """The pair's published key set (``mevauction.committee/1``: garbler, evaluator)."""
        return pair_key_set([self.key_file(r).with_name(self.key_file(r).name + ".signer.address")
                             for r in (party.GARBLER, party.EVALUATOR)])

    def stop(self) -> None:
        self._stop_processes(terminate=not self.hold)
        self._dir.cleanup()

    def _stop_processes(self, terminate: bool) -> None:
        # the processes start evaluator first, the links are garbler first
        dropped = {id(p) for p, c in zip(self.procs[::-1], self._chans, strict=False) if c.dropped}
        for c in self._chans:
            try:
                c.send_json({"op": "shutdown"})
            except OSError:
                pass
            c.close()
        for p in self.procs:
            if (terminate or id(p) in dropped) and p.poll() is None:  # no link to ask on: SIGTERM
                p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
        self._chans = []

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, mechanism: str, bids: list[int], reserve: int = 0, inputs: str = "close",
            k: int = 1, bidders: list[str] | None = None, security: str = party.SECURITY[0]) -> PairResult:
        return run_pair(self._chans, mechanism, bids, reserve, inputs, k, bidders, security)


PARTIES_FORMAT = "mevauction.2pc-parties/1"


class RemotePair:
    """The auctioneer's links to a running garbler and evaluator (``sealed party serve``).

    ``parties`` is a ``mevauction.2pc-parties/1`` document: ``tls_dir`` (the CA and the
    auctioneer's certificate, identity 2), ``garbler`` and ``evaluator`` as ``host:port``.
    Leaving closes the links only: the parties refuse a remote shutdown.
    """

    def __init__(self, parties: dict[str, Any], timeout: float = 60.0) -> None:
        if parties.get("format") != PARTIES_FORMAT:
            raise ValueError(f"format: expected {PARTIES_FORMAT!r}")
        self.tls_dir = str(parties["tls_dir"])
        self.addrs = [host_port(parties.get(name), name) for name in ("garbler", "evaluator")]
        self.timeout = timeout
        self._chans: list[party.Channel] = []

    def __enter__(self) -> RemotePair:
        try:
            for (host, port), role in zip(self.addrs, (party.GARBLER, party.EVALUATOR), strict=True):
                c = party.connect(self.tls_dir, party.AUCTIONEER, host, port, expect=role, timeout=self.timeout)
                c.sock.settimeout(self.timeout)
                self._chans.append(c)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for c in self._chans:
            c.close()
        self._chans = []

    @property
    def chans(self) -> list[party.Channel]:
        return self._chans

    def run(self, mechanism: str, bids: list[int], reserve: int = 0, inputs: str = "close",
            k: int = 1, bidders: list[str] | None = None, security: str = party.SECURITY[0]) -> PairResult:
        return run_pair(self._chans, mechanism, bids, reserve, inputs, k, bidders, security)


def _mark_dropped(chans: list[party.Channel], replies: list[dict[str, Any]], good: str) -> None:
    """A party that aborts a job closes its side of our link: no shutdown can reach it then."""
    for c, r in zip(chans, replies, strict=True):
        if r.get("status") != good:
            c.dropped = True


def _equivocation(done: list[dict[str, Any]], outcomes: list[str]) -> str:
    """Who lied, if a party reports another outcome than it signed for its peer (dual execution)."""
    for i in (party.GARBLER, party.EVALUATOR):
        held, own = done[1 - i].get("peer_statement"), done[i].get("statement")
        if (isinstance(held, dict) and isinstance(own, dict) and dualex.endorses(held, i) and dualex.endorses(own, i)
                and held["signer"] == own["signer"] and not dualex.endorses(held, i, outcomes[i])):
            return (f"{party.NAMES[1 - i]}: holds the {party.NAMES[i]}'s signed outcome, which is not the one "
                    f"the {party.NAMES[i]} reported")
    return "the two parties report different outcomes"


def pair_key_set(address_files: list[Path]) -> dict[str, Any]:
    """Key set of a pair from the parties' ``KEY.signer.address`` files (garbler first)."""
    signers = [f.read_text().strip() for f in address_files]
    return key_set(signers, [""] * len(signers))  # the pair encrypts to TLS, not to published keys


def run_pair(chans: list[party.Channel], mechanism: str, bids: list[int], reserve: int = 0,
             inputs: str = "close", k: int = 1, bidders: list[str] | None = None,
             security: str = party.SECURITY[0]) -> PairResult:
    """One auction on the pair (garbler, evaluator): only winner and price come back.

    ``inputs="close"`` moves the bids' labels (OT extension) after the deadline, inside the
    measured time; ``"intake"`` moves them before, as a streaming intake would per bid.
    ``security``: ``"malicious"`` (dual execution) or ``"semi-honest"`` (one execution).
    """
    rows = [reserve, *bids] if mechanism == "builder" else list(bids)
    if not bids:
        return PairResult(False, mechanism, reason="no bids")
    shares, macs = binding.split(rows, circuits.WIDTH)  # each party's MACs too: its inputs are checked
    return _jobs(chans, mechanism, shares, bidders, inputs, {"n": len(bids), "k": k, "security": security}, macs)


def run_double(chans: list[party.Channel], grid: list[int], sides: list[str], curves: list[list[int]],
               bidders: list[str] | None = None, inputs: str = "close",
               security: str = party.SECURITY[0]) -> PairResult:
    """A double auction on the pair: each trader's curve per level (``double.curve``), XOR-shared.

    Only the clearing price and the traders' quantities there come back; beyond the bound
    (``double.widths``) it raises ValueError before anything is sent."""
    if not curves:
        return PairResult(False, "double", reason="no bids")
    width = double.widths(len(curves), len(grid)).curve
    if any(len(c) != len(grid) or not all(0 <= v < 1 << width for v in c) for c in curves):
        raise ValueError(f"curves: {len(grid)} values below 2^{width} per trader")
    return _jobs(chans, "double", double.share_curves(curves, width), bidders, inputs,
                 {"n": len(curves), "sides": list(sides), "grid": [str(p) for p in grid], "security": security})


def _jobs(chans: list[party.Channel], mechanism: str, shares: tuple[list, list], bidders: list[str] | None,
          inputs: str, public: dict[str, Any], macs: tuple[list, list] | None = None) -> PairResult:
    """Send each party its shares (and MACs, ``binding``) and the job's public fields, then ``finish_pair``."""
    auction = "0x" + secrets.token_hex(16)  # names the run in each party's signed statement
    labels = list(bidders) if bidders is not None else [str(i) for i in range(public["n"])]
    for role, (chan, mine) in enumerate(zip(chans, shares, strict=True)):
        chan.send_json({"op": "job", "mechanism": mechanism, "shares": mine, "inputs": inputs,
                        "auction": auction, "bidders": labels, **public,
                        **({} if macs is None else {"macs": macs[role]})})
    return finish_pair(chans, mechanism, auction)


def finish_pair(chans: list[party.Channel], mechanism: str, auction: str,
                deadline: float | None = None) -> PairResult:
    """Wait for both parties' ``ready``, close, check the two outcomes agree.

    ``deadline`` (a ``perf_counter`` time): when the auction closed, if before the
    ``ready`` (bidder intake: the job itself is the close, the parties go on without
    waiting); else the close sent here is."""
    t0 = time.perf_counter()
    ready = [c.recv_json() for c in chans]
    preprocess = time.perf_counter() - t0
    _mark_dropped(chans, ready, "ready")
    if bad := [r for r in ready if r.get("status") != "ready"]:
        return PairResult(False, mechanism, reason=str(bad[0].get("reason")), preprocess_s=preprocess,
                          auction=auction)
    labels = [r.get("bidders") for r in ready]
    if labels[0] != labels[1] or not isinstance(labels[0], list):
        return PairResult(False, mechanism, reason="the two parties hold different bidders", auction=auction)
    n = len(labels[0])
    t1 = time.perf_counter() if deadline is None else deadline
    for c in chans:
        if deadline is None:  # a bidder-intake job was the close already
            c.send_json({"op": "close"})
    done: list[dict[str, Any]] = [c.recv_json() for c in chans]
    elapsed = time.perf_counter() - t1
    _mark_dropped(chans, done, "ok")
    if bad := [r for r in done if r.get("status") != "ok"]:
        # each party that aborted says why; after a failed equality test each names the other
        reason = "; ".join(str(r.get("reason")) for r in bad)
        if len(bad) == 2 and all("equality check failed" in str(r.get("reason")) for r in bad):
            reason = f"the two executions disagree, one party cheated (each names the other): {reason}"
        return PairResult(False, mechanism, reason=reason, elapsed_s=elapsed, preprocess_s=preprocess)
    outcomes = [json.dumps(r["outcome"], sort_keys=True) for r in done]
    if outcomes[0] != outcomes[1]:
        return PairResult(False, mechanism, reason=_equivocation(done, outcomes), elapsed_s=elapsed)
    out = done[0]["outcome"]
    winner = out["winner"]
    if winner is not None and not 0 <= winner < n:
        return PairResult(False, mechanism, reason="winner index out of range", elapsed_s=elapsed)
    winners = [int(i) for i in out.get("winners", [] if winner is None else [winner])]
    if any(not 0 <= i < n for i in winners):
        return PairResult(False, mechanism, reason="winner index out of range", elapsed_s=elapsed)
    quantities = {int(i): int(q) for i, q in (out.get("quantities") or {}).items()}
    if any(not 0 <= i < n for i in quantities):
        return PairResult(False, mechanism, reason="winner index out of range", elapsed_s=elapsed)
    return PairResult(True, mechanism, winner, out["price"], winners, quantities, elapsed_s=elapsed,
                      preprocess_s=preprocess,
                      bytes_sent=[int(r["bytes_sent"]) for r in done], auction=auction,
                      statements=[r["statement"] for r in done if r.get("statement")],
                      bidders=[str(b) for b in labels[0]], excluded=int(ready[0].get("excluded") or 0))
