"""Canonical RLP (Yellow Paper appendix B), as execution clients accept it.

An item is a byte string or a list of items. Decoding accepts the shortest form only:
no leading zero bytes in a length, no long form for a short payload, a single byte
below 0x80 encoded as itself. Decoders return the byte offsets of list items too, so a
caller can hash a span of the input exactly as it was sent (the transaction decoder
uses this to avoid re-encoding signed fields).
"""

from __future__ import annotations

from typing import TypeAlias

Item: TypeAlias = "bytes | list[Item]"

#: Deeper nesting than this is refused before Python's recursion limit is reached.
MAX_DEPTH = 64


class RlpError(ValueError):
    """The bytes are not canonical RLP of the expected shape."""


def _length(data: bytes, pos: int, size: int) -> int:
    if size == 0 or pos + size > len(data) or data[pos] == 0:
        raise RlpError("bad length prefix")
    return int.from_bytes(data[pos:pos + size], "big")


def _payload(data: bytes, pos: int, prefix: int, base: int, kind: str) -> tuple[int, int]:
    """Start and end of the payload behind the prefix of a string (base 0x80) or a list
    (base 0xC0): short form up to 55 bytes, else a big-endian length of the length."""
    if prefix < base + 56:
        start, size = pos + 1, prefix - base
    else:
        start = pos + 1 + (prefix - base - 55)
        size = _length(data, pos + 1, prefix - base - 55)
        if size < 56:
            raise RlpError(f"long form for a short {kind}")
    end = start + size
    if end > len(data):
        raise RlpError("truncated")
    return start, end


def decode_item(data: bytes, pos: int = 0, depth: int = 0) -> tuple[Item, int]:
    """The item at ``pos``: its value and the position after it."""
    if pos >= len(data):
        raise RlpError("truncated")
    b = data[pos]
    if b < 0x80:
        return data[pos:pos + 1], pos + 1
    if b < 0xC0:
        start, end = _payload(data, pos, b, 0x80, "string")
        if end - start == 1 and b == 0x81 and data[start] < 0x80:
            raise RlpError("single byte not encoded as itself")
        return data[start:end], end
    items, _, end = decode_list(data, pos, depth)
    return items, end


def decode_list(data: bytes, pos: int = 0, depth: int = 0) -> tuple[list[Item], list[int], int]:
    """The list at ``pos``: its items, each item's start offset (plus the list's end), and the end."""
    if depth >= MAX_DEPTH:
        raise RlpError(f"nested deeper than {MAX_DEPTH} lists")
    if pos >= len(data):
        raise RlpError("truncated")
    b = data[pos]
    if b < 0xC0:
        raise RlpError("not a list")
    start, end = _payload(data, pos, b, 0xC0, "list")
    items: list[Item] = []
    offsets: list[int] = []
    cursor = start
    while cursor < end:
        offsets.append(cursor)
        item, cursor = decode_item(data, cursor, depth + 1)
        items.append(item)
    if cursor != end:
        raise RlpError("item overruns its list")
    offsets.append(end)
    return items, offsets, end


def decode(data: bytes) -> Item:
    """The one item ``data`` encodes; trailing bytes are an error."""
    item, end = decode_item(data, 0)
    if end != len(data):
        raise RlpError("trailing bytes after the item")
    return item


def list_header(size: int) -> bytes:
    """The prefix of a list whose encoded items take ``size`` bytes."""
    return _header(0xC0, size)


def _header(offset: int, size: int) -> bytes:
    if size < 56:
        return bytes([offset + size])
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(length)]) + length


def encode(item: Item) -> bytes:
    """The canonical RLP encoding of a byte string or a (nested) list of them."""
    if isinstance(item, list):
        body = b"".join(encode(x) for x in item)
        return _header(0xC0, len(body)) + body
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _header(0x80, len(item)) + item


def encode_int(value: int) -> bytes:
    """An unsigned integer as RLP expects it: big-endian, no leading zeros, 0 as empty."""
    if value < 0:
        raise ValueError("RLP integers are unsigned")
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
