"""The auctioneer's side of the TFHE double auction (main venv): start the key holder and
the evaluator in ``.venv-fhe``, call the deadline and read the outcome both report.

Two ways in: ``run`` (``sealed run --backend tfhe``) plays every trader from a plaintext
bids file and pipes each trader's two shares to K and E, as the other backends' ``run``
does — so that auctioneer sees every curve; ``TfheAuction`` opens an auction whose
traders split their curves themselves and send one share to each party's intake
(``trader.submit_curve``), so the auctioneer holds no share. It never sees a ciphertext
or a key either way.
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mevauction.errors import require
from mevauction.privacy import tls
from mevauction.privacy.tfhe import shares, wire
from mevauction.privacy.tfhe.outcome import cleared
from mevauction.privacy.twoparty.submit import PairAccess

SRC = Path(__file__).resolve().parents[3]


def fhe_python() -> Path:
    """The ``.venv-fhe`` interpreter (``MEVAUCTION_FHE_PYTHON`` overrides), or a one-line InputError."""
    override = os.environ.get("MEVAUCTION_FHE_PYTHON")
    path = Path(override) if override else SRC.parent / ".venv-fhe" / "bin" / "python"
    require(path.is_file() and os.access(path, os.X_OK), "--backend",
            f"tfhe needs the concrete-python venv {path} (run scripts/setup-fhe.sh)")
    return path


@dataclass
class TfheResult:
    ok: bool
    level: int | None = None               # the clearing grid index, None when no level clears
    quantities: dict[int, int] = field(default_factory=dict)  # traders with a positive quantity
    trade: bool = False
    rejected: dict[int, str] = field(default_factory=dict)
    reason: str | None = None
    elapsed_s: float = 0.0                 # deadline → both parties' outcome
    setup_s: float = 0.0                   # process start → both ready (compile, keygen, key transfer)
    keyholder: dict[str, Any] = field(default_factory=dict)
    evaluator: dict[str, Any] = field(default_factory=dict)
    bidders: list[str] = field(default_factory=list)  # the traders the quantities index, as both parties hold them
    statements: list[dict[str, Any]] = field(default_factory=list)  # a running pair's signed outcomes (K, E)
    auction: str = ""


class _Party:
    def __init__(self, python: Path, role: str, record: str | None) -> None:
        env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONWARNINGS": "ignore"}
        cmd = [str(python), "-m", "mevauction.privacy.tfhe.party", role] + (["--record", record] if record else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.role = role
        self.traffic = io.BytesIO()  # every frame the auctioneer sent this party or received from it (tests)

    def send(self, header: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        wire.send(self.proc.stdin, header)
        wire.send(self.traffic, header)

    def recv(self, expect: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            header, blobs = wire.recv(self.proc.stdout)
        except EOFError:
            raise RuntimeError(f"the {self.role} exited (code {self.proc.wait()})") from None
        wire.send(self.traffic, header, blobs)
        if header.get("type") == "error":
            raise RuntimeError(f"{self.role}: {header.get('reason')}")
        if header.get("type") != expect:
            raise RuntimeError(f"{self.role}: expected {expect!r}, got {header.get('type')!r}")
        return header

    def stop(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class _Parties:
    """K and E, started and set up (everything before the deadline), then closed."""

    def __init__(self, opening: dict[str, Any], record_dir: str | None) -> None:
        python = fhe_python()
        rec = (lambda role: str(Path(record_dir) / f"{role}.frames")) if record_dir else (lambda role: None)
        self.keyholder: _Party | None = None
        t0 = time.perf_counter()
        # The K–E link is mutual TLS (party_0 K, party_1 E): the intake's certificates when
        # traders submit, else a pair made for this auction.
        self._link: tempfile.TemporaryDirectory[str] | None = None
        if "intake" in opening:
            link = str(opening["intake"]["tls_dir"])
        else:
            self._link = tempfile.TemporaryDirectory(prefix="mevauction-tfhe-link-")
            link = str(tls.make_certificates(Path(self._link.name), 2))
        opening = {**opening, "link_tls": link}
        self.evaluator = _Party(python, "evaluator", rec("evaluator"))
        try:
            self.evaluator.send(opening)
            port = self.evaluator.recv("listening")["port"]
            self.keyholder = _Party(python, "keyholder", rec("keyholder"))
            self.keyholder.send({**opening, "evaluator": ["127.0.0.1", port]})
            self.ready = self.keyholder.recv("ready"), self.evaluator.recv("ready")
        except BaseException:
            self.stop()
            raise
        self.setup_s = time.perf_counter() - t0

    @property
    def both(self) -> tuple[_Party, _Party]:
        assert self.keyholder is not None
        return self.keyholder, self.evaluator

    def close(self) -> TfheResult:
        """The deadline: both parties go on to the outcome, which must agree."""
        k, e = self.both
        t_deadline, epoch_deadline = time.perf_counter(), time.time()
        try:
            k.send({"type": "close"})
            e.send({"type": "close"})
            k_out, e_out = k.recv("outcome"), e.recv("outcome")
        except RuntimeError as exc:
            return TfheResult(False, reason=str(exc))
        elapsed = time.perf_counter() - t_deadline
        for out in (k_out, e_out):  # how long after the deadline each party had read its last share and the close
            started = out.get("after_deadline", {}).get("started", epoch_deadline)
            out["close_read_after_s"] = round(started - epoch_deadline, 4)
        return agree(k_out, e_out, *self.ready, elapsed, self.setup_s)

    def stop(self) -> None:
        for p in (self.keyholder, self.evaluator):
            if p is not None:
                p.stop()
        if self._link is not None:
            self._link.cleanup()


def _check_shape(levels: int, bits: int) -> None:
    require(levels > 0, "bids", "the tfhe backend needs at least one order and one price level")
    require(1 <= bits <= shares.MAX_BITS, "--quantity-bits", f"must be between 1 and {shares.MAX_BITS}")


def run(sides: list[str], increments: list[list[int]], bits: int, record_dir: str | None = None,
        submissions: list[tuple[Any, Any]] | None = None, traffic: list[bytes] | None = None) -> TfheResult:
    """One auction whose every trader the auctioneer plays (it splits each curve, so it sees
    both shares). ``submissions`` (tests: a trader's own, possibly malformed, share pair per
    trader) replaces the honest split of ``increments``; ``traffic`` (tests) gets the bytes
    the auctioneer exchanged with K and with E."""
    fhe_python()
    _check_shape(len(increments[0]) if increments and sides else 0, bits)
    opening = {"type": "open", "sides": sides, "levels": len(increments[0]), "bits": bits}
    try:
        parties = _Parties(opening, record_dir)
    except RuntimeError as exc:
        return TfheResult(False, reason=str(exc))
    try:
        keyholder, evaluator = parties.both
        pairs = submissions if submissions is not None else [shares.split(inc, bits) for inc in increments]
        try:
            for i, (to_k, to_e) in enumerate(pairs):  # each trader: one share to each party
                keyholder.send({"type": "share", "trader": i, "share": to_k})
                evaluator.send({"type": "share", "trader": i, "share": to_e})
        except OSError as exc:
            return TfheResult(False, reason=f"a party stopped reading: {exc}")
        return parties.close()
    finally:
        parties.stop()
        if traffic is not None:
            traffic += [p.traffic.getvalue() for p in (parties.keyholder, parties.evaluator) if p is not None]


class TfheAuction:
    """A double auction whose traders seal their own curves (``trader.submit_curve``): the
    auctioneer starts K and E with a trader intake each (TLS under a fresh CA, K identity 0,
    E identity 1), publishes ``access`` and ``signers``, and ``close`` is the deadline. It
    never holds a share: its only traffic with the parties is the opening, the close and
    their reports (``traffic``, for tests).

    ``registered``: {label: signer address}, the only key that may trade under a label that
    is not an address; ``max_bids`` sets the circuit's width (it is compiled at open)."""

    def __init__(self, levels: int, bits: int, max_bids: int, registered: dict[str, str] | None = None,
                 record_dir: str | None = None) -> None:
        _check_shape(levels, bits)
        require(1 <= max_bids <= 1 << 12, "--max-bids", "must be between 1 and 4096")
        self.levels, self.bits, self.max_bids = levels, bits, max_bids
        self.registered, self.record_dir = dict(registered or {}), record_dir
        self.auction = "0x" + secrets.token_hex(16)
        self._parties: _Parties | None = None

    def __enter__(self) -> TfheAuction:
        self._dir = tempfile.TemporaryDirectory(prefix="mevauction-tfhe-")
        tls.make_certificates(Path(self._dir.name), 3)  # party_0 K, party_1 E (party_2 unused)
        intake = {"auction": self.auction, "registered": self.registered, "max_bids": self.max_bids,
                  "tls_dir": self._dir.name}
        try:
            self._parties = _Parties({"type": "open", "levels": self.levels, "bits": self.bits, "intake": intake},
                                     self.record_dir)
        except BaseException:
            self._dir.cleanup()
            raise
        k_ready, e_ready = self._parties.ready
        self.access = PairAccess((_local(k_ready["intake"]), _local(e_ready["intake"])), self._dir.name)
        self.signers = [str(k_ready["signer"]), str(e_ready["signer"])]
        return self

    def close(self) -> TfheResult:
        assert self._parties is not None, "use TfheAuction as a context manager"
        return self._parties.close()

    @property
    def traffic(self) -> list[bytes]:
        return [p.traffic.getvalue() for p in self._parties.both] if self._parties else []

    def __exit__(self, *exc: object) -> None:
        if self._parties is not None:
            self._parties.stop()
        self._dir.cleanup()


def _local(addr: Any) -> tuple[str, int]:
    return str(addr[0]), int(addr[1])


def agree(k_out: dict, e_out: dict, k_ready: dict, e_ready: dict, elapsed: float, setup_s: float) -> TfheResult:
    opened = k_out["opened"]
    level = int(opened["level"])
    rejected = {int(i): str(r) for i, r in {**k_out["rejected"], **e_out["rejected"]}.items()}
    info: dict[str, Any] = dict(elapsed_s=elapsed, setup_s=setup_s, rejected=rejected, keyholder={**k_ready, **k_out},
                                evaluator={**e_ready, **e_out}, bidders=list(k_out.get("bidders") or []))
    if level != e_out["level"] or opened.get("quantities") != e_out["quantities"]:
        return TfheResult(False, reason="the key holder and the evaluator report different outcomes", **info)
    if k_out.get("bidders") != e_out.get("bidders") or k_out.get("sides") != e_out.get("sides"):
        return TfheResult(False, reason="the key holder and the evaluator hold different traders", **info)
    return TfheResult(True, *cleared(level, opened.get("quantities"), list(k_out.get("sides") or [])), **info)
