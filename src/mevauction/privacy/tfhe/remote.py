"""The auctioneer's side of a running TFHE pair (``sealed open|close --backend tfhe
--parties-file F``; main venv): signed control requests to each party's control port,
over TLS pinned to the certificate the parties file publishes for that role.

``open`` returns once both parties are set up (compile, keys, base OTs: before the
deadline); ``close`` is the deadline and returns the outcome both report, with both
signed statements, or the reason there is none. Traders reach the parties with
``access`` (``trader.submit_curve``), their receipts checked against ``signers``.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from mevauction.privacy import messages, tls
from mevauction.privacy.tfhe import pair, wire
from mevauction.privacy.tfhe.backend import TfheResult, agree
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
        r = agree(k["outcome"], e["outcome"], {}, {}, elapsed, 0.0)
        statements = [k.get("statement"), e.get("statement")]
        for role, st in enumerate(statements):
            if not isinstance(st, dict) or messages.recover(messages.statement_digest(st), str(st.get("signature"))) \
                    != self.signers[role]:
                return TfheResult(False, reason=f"{pair.ROLES[role]}: its statement is not signed by its published key",
                                  elapsed_s=elapsed)
        r.statements = [st for st in statements if isinstance(st, dict)]
        return r
