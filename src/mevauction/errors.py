"""Errors a user can cause.

Every error that reaches a user names the offending field and fits on one line;
the CLI prints ``error: <field>: <message>`` and exits non-zero, the server turns it
into a JSON-RPC error object. Nothing else in the package should print tracebacks
for bad input. :class:`InputError` itself lives in :mod:`mevauction.eth.errors` so the
Ethereum primitives at the bottom of the package raise the same error.
"""

from __future__ import annotations

from mevauction.eth import fields
from mevauction.eth.errors import InputError

__all__ = ["InputError", "as_wei", "host_port", "require"]


def require(condition: object, field: str, message: str) -> None:
    """Raise InputError(field, message) unless ``condition`` is truthy."""
    if not condition:
        raise InputError(field, message)


def host_port(value: object, field: str) -> tuple[str, int]:
    """An address ``host:port`` (a port 1–65535), as the CLI flags and the parties files give it."""
    host, sep, port = str(value or "").rpartition(":")
    require(bool(sep and host) and port.isascii() and port.isdigit() and 0 < int(port) < 65536, field,
            f"expected host:port, got {value!r}")
    return host, int(port)


def as_wei(value: object, field: str) -> int:
    """An amount in wei: a JSON number, a decimal string or a 0x quantity, at most uint256."""
    return fields.wei(value, field)
