"""Parsers for the values that arrive in JSON: each bounded, canonical, and naming its field.

Python's own conversions are too forgiving for input from the network: ``int("0x_1", 16)``,
``int(" 7 ")`` and ``int("٣")`` (Arabic-Indic three) all succeed, ``bytes.fromhex``
skips spaces, and a 10,000-digit decimal costs quadratic time or raises
``ValueError`` past the interpreter's int-to-str limit. Here every parser:

- accepts ASCII only, in one canonical spelling (JSON-RPC's: ``0x`` prefix, QUANTITY
  without leading zeros, DATA with an even number of digits);
- is bounded: a maximum length checked before any conversion, and a maximum value
  (uint256 unless the caller says less);
- raises :class:`InputError` naming the field the caller passes.
"""

from __future__ import annotations

import re

from mevauction.eth.errors import InputError
from mevauction.eth.keccak import keccak

UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
#: Default cap on a hex DATA value: 1 MiB of bytes (a full block's calldata is less).
MAX_DATA_BYTES = 1 << 20

_HEX = frozenset("0123456789abcdefABCDEF")
_QUANTITY = re.compile(r"0x(?:0|[1-9a-fA-F][0-9a-fA-F]{0,63})")  # canonical hex, at most 2^256 − 1
_DEC = frozenset("0123456789")


def _bits(maximum: int) -> str:
    return f"2**{maximum.bit_length()} - 1" if maximum & (maximum + 1) == 0 else str(maximum)


def _string(value: object, field: str, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(field, f"must be {what}, got {type(value).__name__}")
    return value


def _hex_digits(text: str, field: str, max_digits: int, what: str) -> str:
    """The digits after a required ``0x``; ASCII hex only, at most ``max_digits``."""
    if not text.startswith("0x"):
        raise InputError(field, f"must be {what} starting with 0x")
    digits = text[2:]
    if len(digits) > max_digits:
        raise InputError(field, f"too long: {len(digits)} hex digits (at most {max_digits})")
    if not _HEX.issuperset(digits):
        raise InputError(field, f"not valid hex: {what} has only the digits 0-9, a-f or A-F after 0x")
    return digits


def quantity(value: object, field: str, maximum: int = UINT256_MAX) -> int:
    """A JSON-RPC QUANTITY: ``0x`` + hex without leading zeros (``0x0`` for zero)."""
    text = _string(value, field, "a hex quantity string")
    digits = _hex_digits(text, field, (maximum.bit_length() + 3) // 4, "a hex quantity")
    if not digits:
        raise InputError(field, "hex quantity has no digits (zero is 0x0)")
    return _canonical_number(digits, 16, field, maximum, "hex quantity")


def decimal(value: object, field: str, maximum: int = UINT256_MAX) -> int:
    """A non-negative integer written in decimal ASCII digits, no sign, no leading zeros."""
    text = _string(value, field, "a decimal integer string")
    if len(text) > len(str(maximum)):
        raise InputError(field, f"too long: {len(text)} digits (at most {_bits(maximum)})")
    if not text or not _DEC.issuperset(text):
        raise InputError(field, f"must be a decimal integer (ASCII digits only), got {text!r}")
    return _canonical_number(text, 10, field, maximum, "decimal integer")


def _canonical_number(digits: str, base: int, field: str, maximum: int, what: str) -> int:
    """Checked digits as a number: no leading zeros, at most ``maximum``."""
    if len(digits) > 1 and digits[0] == "0":
        raise InputError(field, f"{what} has leading zeros (not canonical)")
    number = int(digits, base)
    if number > maximum:
        raise InputError(field, f"out of range (at most {_bits(maximum)})")
    return number


def integer(value: object, field: str, maximum: int = UINT256_MAX, minimum: int = 0) -> int:
    """A JSON number that is an integer in [minimum, maximum] (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, f"must be an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InputError(field, f"out of range (must be in {minimum}..{_bits(maximum)})")
    return value


def uint(value: object, field: str, maximum: int = UINT256_MAX) -> int:
    """An unsigned integer as JSON-RPC carries one: a JSON number or a 0x QUANTITY."""
    if isinstance(value, str):
        return quantity(value, field, maximum)
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(value, field, maximum)
    raise InputError(field, f"must be an unsigned integer or a 0x quantity, got {type(value).__name__}")


def uints(values: list[object], field: str, maximum: int = UINT256_MAX) -> list[int]:
    """``uint`` of every item (``field[k]`` in errors); canonical 0x quantities by one compiled
    pattern each (a committee server parses ~66 per bid it takes)."""
    match = _QUANTITY.fullmatch
    if maximum == UINT256_MAX and all(type(v) is str and match(v) for v in values):
        return [int(str(v), 16) for v in values]
    return [uint(v, f"{field}[{k}]", maximum) for k, v in enumerate(values)]


def wei(value: object, field: str, maximum: int = UINT256_MAX) -> int:
    """An amount in wei: a JSON number, a decimal string (how amounts leave the service)
    or a 0x quantity; at most uint256 unless the caller caps it lower."""
    if isinstance(value, str) and not value.startswith("0x"):
        return decimal(value, field, maximum)
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise InputError(field, f"must be non-negative, got {value}")
    return uint(value, field, maximum)


def word(value: object, field: str) -> int:
    """A 256-bit word as tracers write storage slots and values: ``0x`` + 1..64 hex digits,
    zero-padded or not (geth pads them to 64), or a JSON number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(value, field)
    text = _string(value, field, "a 0x hex word")
    digits = _hex_digits(text, field, 64, "a 0x hex word")
    if not digits:
        raise InputError(field, "hex word has no digits")
    return int(digits, 16)


def data(value: object, field: str, *, length: int | None = None,
         max_length: int = MAX_DATA_BYTES, prefix: bool = True) -> bytes:
    """JSON-RPC DATA: ``0x`` + an even number of hex digits (``prefix=False``: bare hex
    too, for formats such as mev-commit's that write it without)."""
    text = _string(value, field, "a hex string")
    if not prefix and not text.startswith("0x"):
        text = "0x" + text
    limit = 2 * (length if length is not None else max_length)
    digits = _hex_digits(text, field, limit, "a hex string")
    if len(digits) % 2:
        raise InputError(field, "hex string has an odd number of digits")
    raw = bytes.fromhex(digits)
    if length is not None and len(raw) != length:
        raise InputError(field, f"must be {length} bytes, got {len(raw)}")
    return raw


def bytes32(value: object, field: str) -> bytes:
    """A 32-byte word (a hash, a storage key) as ``0x`` + 64 hex digits."""
    return data(value, field, length=32)


def hash32(value: object, field: str) -> str:
    """A 32-byte hash in the package's spelling: lower-case ``0x`` + 64 digits."""
    return "0x" + bytes32(value, field).hex()


def address(value: object, field: str) -> str:
    """A 20-byte address, returned lower-case. Mixed case must be a valid EIP-55 checksum
    (it exists to catch typos); all-lower and all-upper digits carry no checksum."""
    raw = data(value, field, length=20)
    text = value[2:]  # type: ignore[index]  # data() checked it is a 0x string
    if text != text.lower() and text != text.upper() and "0x" + text != checksum(value):  # type: ignore[arg-type]
        raise InputError(field, "mixed-case address with a wrong EIP-55 checksum")
    return "0x" + raw.hex()


def checksum(address: str) -> str:
    """EIP-55 mixed-case spelling of a ``0x`` address (any case in)."""
    digits = address[2:].lower()
    digest = keccak(digits.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(digits))
