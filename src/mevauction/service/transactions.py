"""Signed Ethereum transactions as bundles carry them: decode, hash, recover the sender.

Envelopes (EIP-2718): legacy RLP lists (EIP-155 replay-protected or not), type 0x01
(EIP-2930) and type 0x02 (EIP-1559). The transaction hash is keccak256 of the raw
bytes; the sender is recovered from the signature over the envelope's signing hash
(the same fields without v, r, s; for EIP-155 legacy, with chainId, 0, 0 appended).
"""

from __future__ import annotations

from dataclasses import dataclass

from mevauction.service.hashing import keccak

from mevauction.errors import InputError
from mevauction.service.signing import recover


@dataclass(frozen=True, slots=True)
class SignedTx:
    hash: str
    sender: str
    to: str | None
    nonce: int
    gas: int
    tip_per_gas: int  # the priority fee: maxPriorityFeePerGas, or gasPrice for older types
    value: int
    chain_id: int | None
    raw: bytes


class RlpError(ValueError):
    """The bytes are not canonical RLP of the expected shape."""


def _length(data: bytes, pos: int, size: int) -> int:
    if size == 0 or pos + size > len(data) or data[pos] == 0:
        raise RlpError("bad length")
    return int.from_bytes(data[pos:pos + size], "big")


def rlp_item(data: bytes, pos: int) -> tuple[bytes | list, int]:
    """Decode the RLP item at ``pos``; its value and the position after it (canonical form only)."""
    if pos >= len(data):
        raise RlpError("truncated")
    b = data[pos]
    if b < 0x80:
        return data[pos:pos + 1], pos + 1
    if b < 0xC0:
        if b < 0xB8:
            start, size = pos + 1, b - 0x80
            if size == 1 and start < len(data) and data[start] < 0x80:
                raise RlpError("single byte not encoded as itself")
        else:
            start = pos + 1 + (b - 0xB7)
            size = _length(data, pos + 1, b - 0xB7)
            if size < 56:
                raise RlpError("long form for a short string")
        end = start + size
        if end > len(data):
            raise RlpError("truncated")
        return data[start:end], end
    items, _, end = rlp_list(data, pos)
    return items, end


def rlp_list(data: bytes, pos: int) -> tuple[list, list[int], int]:
    """A list at ``pos``: its items, each item's start offset (plus the end), and the end."""
    b = data[pos]
    if b < 0xC0:
        raise RlpError("not a list")
    if b < 0xF8:
        start, size = pos + 1, b - 0xC0
    else:
        start = pos + 1 + (b - 0xF7)
        size = _length(data, pos + 1, b - 0xF7)
        if size < 56:
            raise RlpError("long form for a short list")
    end = start + size
    if end > len(data):
        raise RlpError("truncated")
    items, offsets, cursor = [], [], start
    while cursor < end:
        offsets.append(cursor)
        item, cursor = rlp_item(data, cursor)
        items.append(item)
    if cursor != end:
        raise RlpError("item overruns its list")
    offsets.append(end)
    return items, offsets, end


def rlp_list_header(size: int) -> bytes:
    if size < 56:
        return bytes([0xC0 + size])
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(length)]) + length


def rlp_int(value: int) -> bytes:
    if value == 0:
        return b"\x80"
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return raw if len(raw) == 1 and raw[0] < 0x80 else bytes([0x80 + len(raw)]) + raw


def decode_envelope(raw: bytes, start: int) -> tuple[list, list[int]]:
    """The top-level list of a transaction envelope, which must fill ``raw``."""
    items, offsets, end = rlp_list(raw, start)
    if end != len(raw):
        raise RlpError("trailing bytes")
    return items, offsets


def _int(item: object, field: str) -> int:
    if not isinstance(item, bytes):
        raise InputError(field, "must be an RLP string")
    if item[:1] == b"\x00":
        raise InputError(field, "integer has leading zero bytes")
    return int.from_bytes(item, "big")


def _address(item: object, field: str) -> str | None:
    if not isinstance(item, bytes) or len(item) not in (0, 20):
        raise InputError(field, "must be empty or a 20-byte address")
    return "0x" + item.hex() if item else None


def _signature(y: int, r: int, s: int, field: str) -> bytes:
    if y not in (0, 1):
        raise InputError(field, f"bad signature parity {y}")
    if not (0 < r < 2**256 and 0 < s < 2**256):
        raise InputError(field, "signature r/s out of range")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y])


def decode_signed_tx(raw: bytes, field: str = "tx") -> SignedTx:
    """Decode and authenticate one signed transaction; InputError names ``field``."""
    if not raw:
        raise InputError(field, "empty transaction")
    first = raw[0]
    try:
        if first >= 0xC0:
            return _legacy(raw, field)
        if first in (1, 2):
            return _typed(first, raw, field)
    except (RlpError, IndexError):
        raise InputError(field, "not a valid RLP-encoded transaction") from None
    raise InputError(field, f"unsupported transaction type 0x{first:02x} (legacy, 0x01 and 0x02 are accepted)")


def _legacy(raw: bytes, field: str) -> SignedTx:
    items, offsets = decode_envelope(raw, 0)
    if len(items) != 9:
        raise InputError(field, "legacy transaction must have 9 fields")
    nonce, gas_price, gas = (_int(items[i], f"{field}.{n}") for i, n in enumerate(("nonce", "gasPrice", "gas")))
    to = _address(items[3], f"{field}.to")
    value = _int(items[4], f"{field}.value")
    v, r, s = (_int(items[i], f"{field}.{n}") for i, n in zip((6, 7, 8), "vrs"))
    fields = raw[offsets[0]:offsets[6]]  # the six signed fields, as sent
    if v in (27, 28):
        chain_id, y = None, v - 27
    elif v >= 35:
        chain_id = (v - 35) // 2
        y = v - 35 - 2 * chain_id
        fields += rlp_int(chain_id) + b"\x80\x80"
    else:
        raise InputError(f"{field}.v", f"bad legacy v {v}")
    sender = recover(keccak(rlp_list_header(len(fields)) + fields), _signature(y, r, s, field))
    return SignedTx("0x" + keccak(raw).hex(), sender, to, nonce, gas, gas_price, value, chain_id, raw)


def _typed(tx_type: int, raw: bytes, field: str) -> SignedTx:
    items, offsets = decode_envelope(raw, 1)
    n_fields = {1: 11, 2: 12}[tx_type]
    if len(items) != n_fields:
        raise InputError(field, f"type 0x0{tx_type} transaction must have {n_fields} fields")
    chain_id = _int(items[0], f"{field}.chainId")
    nonce = _int(items[1], f"{field}.nonce")
    if tx_type == 2:
        tip = _int(items[2], f"{field}.maxPriorityFeePerGas")
        max_fee = _int(items[3], f"{field}.maxFeePerGas")
        if tip > max_fee:
            raise InputError(f"{field}.maxPriorityFeePerGas", "exceeds maxFeePerGas")
        rest = items[4:]
    else:
        tip = _int(items[2], f"{field}.gasPrice")
        rest = items[3:]
    gas = _int(rest[0], f"{field}.gas")
    to = _address(rest[1], f"{field}.to")
    value = _int(rest[2], f"{field}.value")
    if not isinstance(rest[4], list):
        raise InputError(f"{field}.accessList", "must be a list")
    y, r, s = (_int(rest[i], f"{field}.{n}") for i, n in zip((5, 6, 7), ("yParity", "r", "s")))
    fields = raw[offsets[0]:offsets[-4]]  # everything but yParity, r, s, as sent
    digest = keccak(bytes([tx_type]) + rlp_list_header(len(fields)) + fields)
    sender = recover(digest, _signature(y, r, s, field))
    return SignedTx("0x" + keccak(raw).hex(), sender, to, nonce, gas, tip, value, chain_id, raw)
