"""The auctioneer's side of a running TFHE pair (``sealed open|close --backend tfhe
--parties-file F``; main venv): signed control requests to each party's control port,
over TLS pinned to the certificate the parties file publishes for that role.

``open`` returns once both parties are set up (compile, keys, base OTs: before the
deadline); ``close`` is the deadline and returns the outcome both report, with both
signed statements, or the reason there is none. Traders reach the parties with
``access`` (``trader.submit_curve``), their receipts checked against ``signers``.

``LocalServedPair`` starts such a pair on 127.0.0.1 as two operators would (each party's
own identity, ``sealed party serve --backend tfhe``), for tests and benchmarks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mevauction.privacy import messages, tls
from mevauction.privacy.client import free_ports
from mevauction.privacy.tfhe import pair, wire
from mevauction.privacy.tfhe.backend import SRC, TfheResult, agree
from mevauction.privacy.twoparty.submit import PairAccess


class ServedPair:
    def __init__(self, parties: dict[str, Any], control_key: bytes, timeout: float = 900.0) -> None:
        self.entries = pair.parties(parties)
        self.key, self.timeout = control_key, timeout

    @property
    def access(self) -> PairAccess:
        k, e = self.entries
        return PairAccess((k.intake, e.intake), pins=(k.tls_cert, e.tls_cert))

    @property
    def signers(self) -> list[str]:
        return [e.signer for e in self.entries]

    def request(self, role: int, msg: dict[str, Any]) -> dict[str, Any]:
        """One signed request to party ``role``; its reply (a ``status`` of ``refused``
        with the reason when the party refused or could not be reached)."""
        who = self.entries[role]
        try:
            with socket.create_connection(who.control, timeout=self.timeout) as raw:
                sock = tls.pinned_client_context(who.tls_cert).wrap_socket(raw)
                tls.check_pinned(sock, who.tls_cert, pair.ROLES[role])
                wire.send(sock.makefile("wb"), messages.sign_control(msg, self.key))
                reply, _ = wire.recv(sock.makefile("rb"))
        except (OSError, ConnectionError, EOFError, ValueError) as exc:
            return {"status": "refused", "reason": f"{pair.ROLES[role]}: unreachable ({exc})"}
        return reply

    def both(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """The same request to K and E at once (each one's setup waits for the other's)."""
        replies: list[dict[str, Any]] = [{}, {}]

        def one(role: int) -> None:
            replies[role] = self.request(role, msg)

        threads = [threading.Thread(target=one, args=(r,)) for r in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return replies

    def open(self, auction: str, grid: list[int], bits: int, max_bids: int,
             registered: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Open at both parties; (K's ready, E's ready); ValueError with the reasons if not."""
        msg = {"op": "open", "auction": auction, "levels": len(grid), "grid": [str(p) for p in grid], "bits": bits,
               "max_bids": max_bids, "registered": dict(registered or {})}
        replies = self.both(msg)
        if bad := [r for r in replies if r.get("status") != "ready"]:
            raise ValueError("; ".join(str(r.get("reason")) for r in bad))
        return replies

    def close(self, auction: str) -> TfheResult:
        t0 = time.perf_counter()
        k, e = self.both({"op": "close", "auction": auction})
        elapsed = time.perf_counter() - t0
        if bad := [r for r in (k, e) if r.get("status") != "ok"]:
            return TfheResult(False, reason="; ".join(str(r.get("reason")) for r in bad), elapsed_s=elapsed)
        # the setup ran at open (or, after a restart, at this close): each party's own clock of it
        setup_s = max(sum((rep["outcome"].get("setup") or {}).get("wall_s", {}).values()) for rep in (k, e))
        r = agree(k["outcome"], e["outcome"], {}, {}, elapsed, setup_s)
        statements = [k.get("statement"), e.get("statement")]
        for role, st in enumerate(statements):
            if not isinstance(st, dict) or messages.recover(messages.statement_digest(st), str(st.get("signature"))) \
                    != self.signers[role]:
                return TfheResult(False, reason=f"{pair.ROLES[role]}: its statement is not signed by its published key",
                                  elapsed_s=elapsed)
        r.statements = [st for st in statements if isinstance(st, dict)]
        return r


class LocalServedPair:
    """K and E as two long-lived processes on 127.0.0.1, each with its own identity under
    ``where`` (``pair.init``; the parties file ``where/parties.json``), and an auctioneer key.
    ``start``/``kill`` (SIGKILL) one party by role (0 K, 1 E), ``stop`` both."""

    def __init__(self, where: Path, timeout: float = 60.0) -> None:
        self.where, self.timeout = where, timeout
        ports = free_ports(5)
        self.key_files = [where / "K.key", where / "E.key"]
        for role in (0, 1):
            pair.init(role, str(self.key_files[role]), ("127.0.0.1", ports[2 * role]),
                      ("127.0.0.1", ports[2 * role + 1]), ("127.0.0.1", ports[4]) if role else None)
        self.parties = pair.parties_doc(*(json.loads(Path(f"{k}.public.json").read_text()) for k in self.key_files))
        self.parties_file = where / "parties.json"
        self.parties_file.write_text(json.dumps(self.parties))
        self.control_key = messages.new_key()
        self.control_key_file = where / "auctioneer.key"
        self.control_key_file.write_text(self.control_key.hex())
        self.procs: list[subprocess.Popen[bytes] | None] = [None, None]

    def start(self, role: int) -> None:
        """Start one party and wait until its control port answers."""
        cmd = [sys.executable, "-m", "mevauction", "sealed", "party", "serve", "--backend", "tfhe", "--role",
               pair.ROLES[role], "--key-file", str(self.key_files[role]), "--parties-file", str(self.parties_file),
               "--control-key", messages.address(self.control_key), "--close-timeout", str(self.timeout)]
        log = self.where / f"{pair.ROLES[role]}.log"
        with log.open("ab") as out:
            self.procs[role] = proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(SRC)}, stdout=out,
                                                       stderr=out, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the {pair.ROLES[role]} exited: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(self.parties_entry(role).control, timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def parties_entry(self, role: int) -> pair.Entry:
        return pair.parties(self.parties)[role]

    def kill(self, role: int) -> None:
        """kill -9: the party gets no chance to clean up."""
        proc = self.procs[role]
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)

    def client(self, key: bytes | None = None) -> ServedPair:
        return ServedPair(self.parties, key or self.control_key, timeout=self.timeout + 30)

    def __enter__(self) -> LocalServedPair:
        try:
            self.start(1)
            self.start(0)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
