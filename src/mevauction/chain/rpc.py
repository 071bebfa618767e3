"""A small JSON-RPC client for an Ethereum node (anvil or any dev node).

One keep-alive HTTP connection, guarded by a lock so threads may share a client; a
dropped connection is reopened once per call. Two failures are kept apart because
callers treat them differently: :class:`NodeUnavailable` (no answer: the slot fails
with that reason and its orders stay) and :class:`RpcError` (the node answered with a
JSON-RPC error object: the request itself was refused).
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from mevauction.errors import InputError


class NodeUnavailable(Exception):
    """The node did not answer (refused, reset, timed out, or not JSON)."""


class RpcError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str, data: object = None):
        super().__init__(f"{method}: {code} {message}")
        self.method, self.code, self.message, self.data = method, code, message, data


def quantity(value: int) -> str:
    """An integer as a JSON-RPC quantity ("0x0", "0x1f")."""
    return hex(value)


def as_int(value: object, what: str = "quantity") -> int:
    """A JSON-RPC quantity from the node as an int (the node is trusted to send hex)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise NodeUnavailable(f"node sent a malformed {what}: {value!r}")
    return int(value, 16)


class RpcClient:
    """JSON-RPC over HTTP to one node URL."""

    def __init__(self, url: str, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError("chain", f"node URL must be http(s)://host:port, got {url!r}")
        self.url, self.timeout = url, timeout
        self._host, self._port = parts.hostname, parts.port
        self._https = parts.scheme == "https"
        self._path = parts.path or "/"
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _post(self, body: bytes) -> Any:
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                return json.loads(payload)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                conn.close()
                self._conn = None
                # A kept-alive connection the node closed fails once; a second failure is real.
                if attempt == 1 or isinstance(exc, (ValueError, TimeoutError)):
                    raise NodeUnavailable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        raise AssertionError("unreachable")

    def call(self, method: str, *params: object) -> Any:
        """Call one method; its result, or RpcError / NodeUnavailable."""
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        with self._lock:
            answer = self._post(json.dumps(request).encode())
        if not isinstance(answer, dict):
            raise NodeUnavailable(f"{self.url}: {method}: answer is not a JSON-RPC object")
        if answer.get("error") is not None:
            err = answer["error"]
            raise RpcError(method, int(err.get("code", 0)), str(err.get("message", "")), err.get("data"))
        return answer.get("result")

    def batch(self, calls: list[tuple[str, list[object]]]) -> list[Any]:
        """Several calls in one HTTP request; results in the order given (RpcError on the first error)."""
        if not calls:
            return []
        first = next(self._ids)
        requests = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        for _ in calls[1:]:
            next(self._ids)
        with self._lock:
            answers = self._post(json.dumps(requests).encode())
        if not isinstance(answers, list):
            raise NodeUnavailable(f"{self.url}: batch answer is not a list")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for i, (method, _) in enumerate(calls):
            answer = by_id.get(first + i)
            if answer is None:
                raise NodeUnavailable(f"{self.url}: {method}: no answer in batch")
            if answer.get("error") is not None:
                err = answer["error"]
                raise RpcError(method, int(err.get("code", 0)), str(err.get("message", "")), err.get("data"))
            results.append(answer.get("result"))
        return results

    # The handful of reads every caller needs, named as the node names them.
    def chain_id(self) -> int:
        return as_int(self.call("eth_chainId"), "chain id")

    def block_number(self) -> int:
        return as_int(self.call("eth_blockNumber"), "block number")

    def block(self, number: int | str = "latest", full: bool = False) -> dict[str, Any] | None:
        tag = quantity(number) if isinstance(number, int) else number
        return self.call("eth_getBlockByNumber", tag, full)

    def balance(self, address: str, block: int | str = "latest") -> int:
        tag = quantity(block) if isinstance(block, int) else block
        return as_int(self.call("eth_getBalance", address, tag), "balance")

    def nonce(self, address: str, block: int | str = "latest") -> int:
        tag = quantity(block) if isinstance(block, int) else block
        return as_int(self.call("eth_getTransactionCount", address, tag), "nonce")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
