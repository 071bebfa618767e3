"""The auctioneer's side of the TFHE double auction (main venv): start the key holder and
the evaluator in ``.venv-fhe``, hand each trader's two shares to them, call the deadline and
read the outcome both report.

``sealed run --backend tfhe`` plays every trader from a plaintext bids file, as the other
backends' ``run`` does; a trader of its own would call ``shares.split`` and send one share
to each party — it holds no key. The auctioneer never sees a ciphertext or a key.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mevauction.errors import require
from mevauction.privacy.tfhe import shares, wire

_SRC = Path(__file__).resolve().parents[3]


def fhe_python() -> Path:
    """The ``.venv-fhe`` interpreter (``MEVAUCTION_FHE_PYTHON`` overrides), or a one-line InputError."""
    override = os.environ.get("MEVAUCTION_FHE_PYTHON")
    path = Path(override) if override else _SRC.parent / ".venv-fhe" / "bin" / "python"
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


class _Party:
    def __init__(self, python: Path, role: str, record: str | None) -> None:
        env = {**os.environ, "PYTHONPATH": str(_SRC), "PYTHONWARNINGS": "ignore"}
        cmd = [str(python), "-m", "mevauction.privacy.tfhe.party", role] + (["--record", record] if record else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.role = role

    def send(self, header: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        wire.send(self.proc.stdin, header)

    def recv(self, expect: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            header, _ = wire.recv(self.proc.stdout)
        except EOFError:
            raise RuntimeError(f"the {self.role} exited (code {self.proc.wait()})") from None
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


def run(sides: list[str], increments: list[list[int]], bits: int, record_dir: str | None = None,
        submissions: list[tuple[Any, Any]] | None = None) -> TfheResult:
    """One auction. ``submissions`` (tests: a trader's own, possibly malformed, share pair per
    trader) replaces the honest split of ``increments``."""
    python = fhe_python()
    levels = len(increments[0]) if increments else 0
    require(len(sides) > 0 and levels > 0, "bids", "the tfhe backend needs at least one order and one price level")
    require(1 <= bits <= shares.MAX_BITS, "--quantity-bits", f"must be between 1 and {shares.MAX_BITS}")
    rec = (lambda role: str(Path(record_dir) / f"{role}.frames")) if record_dir else (lambda role: None)
    evaluator = _Party(python, "evaluator", rec("evaluator"))
    keyholder = None
    try:
        t0 = time.perf_counter()
        opening = {"type": "open", "sides": sides, "levels": levels, "bits": bits}
        evaluator.send(opening)
        port = evaluator.recv("listening")["port"]
        keyholder = _Party(python, "keyholder", rec("keyholder"))
        keyholder.send({**opening, "evaluator": ["127.0.0.1", port]})
        k_ready, e_ready = keyholder.recv("ready"), evaluator.recv("ready")
        setup_s = time.perf_counter() - t0
        pairs = submissions if submissions is not None else [shares.split(inc, bits) for inc in increments]
        for i, (to_k, to_e) in enumerate(pairs):  # each trader: one share to each party
            keyholder.send({"type": "share", "trader": i, "share": to_k})
            evaluator.send({"type": "share", "trader": i, "share": to_e})
        t_deadline, epoch_deadline = time.perf_counter(), time.time()
        keyholder.send({"type": "close"})
        evaluator.send({"type": "close"})
        k_out, e_out = keyholder.recv("outcome"), evaluator.recv("outcome")
        elapsed = time.perf_counter() - t_deadline
    except RuntimeError as exc:
        return TfheResult(False, reason=str(exc))
    finally:
        for p in (keyholder, evaluator):
            if p is not None:
                p.stop()
    for out in (k_out, e_out):  # how long after the deadline each party had read its last share and the close
        started = out.get("after_deadline", {}).get("started", epoch_deadline)
        out["close_read_after_s"] = round(started - epoch_deadline, 4)
    return _agree(k_out, e_out, k_ready, e_ready, sides, elapsed, setup_s)


def _agree(k_out: dict, e_out: dict, k_ready: dict, e_ready: dict, sides: list[str], elapsed: float,
           setup_s: float) -> TfheResult:
    opened = k_out["opened"]
    level = int(opened["level"])
    rejected = {int(i): str(r) for i, r in {**k_out["rejected"], **e_out["rejected"]}.items()}
    info: dict[str, Any] = dict(elapsed_s=elapsed, setup_s=setup_s, rejected=rejected, keyholder={**k_ready, **k_out},
                evaluator={**e_ready, **e_out})
    if level != e_out["level"] or opened.get("quantities") != e_out["quantities"]:
        return TfheResult(False, reason="the key holder and the evaluator report different outcomes", **info)
    if level < 0:
        return TfheResult(True, None, **info)
    q = opened.get("quantities") or []
    trading = {i: int(v) for i, v in enumerate(q) if v > 0}
    trade = any(sides[i] == "buy" for i in trading) and any(sides[i] == "sell" for i in trading)
    return TfheResult(True, level, trading if trade else {}, trade, **info)

