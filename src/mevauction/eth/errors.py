"""The error a user's bad input raises, anywhere in the package.

It names the offending field (a dotted path) and says what is wrong, on one line; the
CLI prints ``error: <field>: <message>``, the server turns it into a JSON-RPC error
object. It lives here, at the bottom of the package, so that the Ethereum primitives
can raise it too (``mevauction.errors`` re-exports it).
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from a user: names the field (a dotted path) and what is wrong."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def one_line(self) -> str:
        return str(self).replace("\n", " ")
