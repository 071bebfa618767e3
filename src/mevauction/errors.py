"""Errors a user can cause.

Every error that reaches a user names the offending field and fits on one line;
the CLI prints ``error: <field>: <message>`` and exits non-zero, the server turns it
into a JSON-RPC error object. Nothing else in the package should print tracebacks
for bad input.
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


def require(condition: bool, field: str, message: str) -> None:
    if not condition:
        raise InputError(field, message)


def as_wei(value: object, field: str) -> int:
    """An amount in wei: a non-negative integer, or a decimal/0x-hex string of one."""
    if isinstance(value, bool):
        raise InputError(field, "must be an integer amount in wei, not a boolean")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str):
        try:
            amount = int(value, 16) if value.lower().startswith("0x") else int(value, 10)
        except ValueError:
            raise InputError(field, f"not an integer amount: {value!r}") from None
    else:
        raise InputError(field, f"must be an integer amount in wei, got {type(value).__name__}")
    if amount < 0:
        raise InputError(field, f"must be non-negative, got {amount}")
    return amount
