"""The framed channel over one TLS link of the two-party backend, and the roles its
certificates name (party 0 the garbler, 1 the evaluator, 2 the auctioneer)."""

from __future__ import annotations

import contextlib
import json
import ssl
import struct
from typing import Any

GARBLER, EVALUATOR, AUCTIONEER = 0, 1, 2
NAMES = {GARBLER: "garbler", EVALUATOR: "evaluator", AUCTIONEER: "auctioneer"}


def peer_role(sock: ssl.SSLSocket) -> int | None:
    cert: Any = sock.getpeercert() or {}
    names = [str(pair[1]) for rdn in cert.get("subject", ()) for pair in rdn if pair[0] == "commonName"]
    for role in NAMES:
        if names == [f"MPyC party {role}"]:
            return role
    return None


class Channel:
    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.sent = 0
        self.dropped = False  # the peer closed its side after an abort (``local.finish_pair``)

    def send(self, data: bytes) -> None:
        self.sock.sendall(struct.pack(">Q", len(data)) + data)
        self.sent += 8 + len(data)

    def recv(self, limit: int = 1 << 31) -> bytes:
        (size,) = struct.unpack(">Q", self._exact(8))
        if size > limit:
            raise ConnectionError(f"frame of {size} bytes is over the limit")
        return self._exact(size)

    def _exact(self, k: int) -> bytes:
        buf = bytearray()
        while len(buf) < k:
            chunk = self.sock.recv(min(k - len(buf), 1 << 20))
            if not chunk:
                raise ConnectionError("peer closed the link")
            buf += chunk
        return bytes(buf)

    def send_json(self, obj: Any) -> None:
        self.send(json.dumps(obj).encode())

    def recv_json(self) -> Any:
        return json.loads(self.recv(1 << 24))

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already closed by the peer
            self.sock.close()
