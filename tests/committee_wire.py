"""What tests need to reach a committee from outside, and the sealed tests' shared slot."""

from __future__ import annotations

import json
import socket
import ssl

# Four table-world orders in two conflict groups: the paper-style slot the sealed tests settle.
SEALED_ORDERS = [
    {"id": "o1", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 40, "after": {"o2": 100}}},
    {"id": "o2", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 50, "after": {"o1": 80}}},
    {"id": "o3", "reads": ["k2"], "writes": ["k2"], "bid": {"default": 20}},
    {"id": "o4", "reads": ["k2"], "writes": ["k2"], "bid": {"default": 25, "after": {"o3": 30}}},
]


def outsider_request(address: tuple[str, int], request: dict) -> dict:
    """One request to a committee server as an outsider sends it: TLS without the
    committee's CA if the port speaks TLS, else plain TCP (whatever gets through)."""
    body = json.dumps(request).encode() + b"\n"
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(address, timeout=10) as raw, ctx.wrap_socket(raw) as s:
            s.sendall(body)
            return json.loads(s.makefile().readline())
    except ssl.SSLError:  # not a TLS port: plain TCP
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(body)
            return json.loads(s.makefile().readline())
