"""Frames between the auctioneer and the parties, and between K and E: a JSON header
and raw binary blobs (ciphertexts, keys), each length-prefixed. Blocking sockets and pipes."""

from __future__ import annotations

import json
import struct
from typing import IO, Any

_LEN = struct.Struct(">Q")
MAX_FRAME = 1 << 30  # the largest blobs: evaluation keys (12–25 MB) and the OT matrix (16 bytes per share bit)


def send(out: IO[bytes], header: dict[str, Any], blobs: list[bytes] = ()) -> int:  # type: ignore[assignment]
    """Write one frame; returns the bytes written."""
    head = json.dumps({**header, "blobs": [len(b) for b in blobs]}).encode()
    out.write(_LEN.pack(len(head)) + head)
    for b in blobs:
        out.write(b)
    out.flush()
    return _LEN.size + len(head) + sum(len(b) for b in blobs)


def _exact(inp: IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = inp.read(min(left, 1 << 24))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(inp: IO[bytes]) -> tuple[dict[str, Any], list[bytes]]:
    (n,) = _LEN.unpack(_exact(inp, _LEN.size))
    if n > MAX_FRAME:
        raise ValueError("frame header too large")
    header = json.loads(_exact(inp, n))
    sizes = header.pop("blobs", [])
    if not isinstance(sizes, list) or any(not isinstance(s, int) or not 0 <= s <= MAX_FRAME for s in sizes):
        raise ValueError("bad blob sizes")
    return header, [_exact(inp, s) for s in sizes]
