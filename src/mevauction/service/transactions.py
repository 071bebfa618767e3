"""Signed Ethereum transactions as bundles carry them: decode, hash, recover the sender.

Envelopes (EIP-2718): legacy RLP lists (EIP-155 replay-protected or not), type 0x01
(EIP-2930) and type 0x02 (EIP-1559). The transaction hash is keccak256 of the raw
bytes; the sender is recovered from the signature over the envelope's signing hash
(the same fields without v, r, s; for EIP-155 legacy, with chainId, 0, 0 appended).
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_hash.auto import keccak

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
            items = rlp.decode(raw[1:])
            return _typed(first, items, raw, field)
    except InputError:
        raise
    except Exception:  # pyrlp raises a family of DecodingError/ValueError subclasses
        raise InputError(field, "not a valid RLP-encoded transaction") from None
    raise InputError(field, f"unsupported transaction type 0x{first:02x} (legacy, 0x01 and 0x02 are accepted)")


def _legacy(raw: bytes, field: str) -> SignedTx:
    items = rlp.decode(raw)
    if not isinstance(items, list) or len(items) != 9:
        raise InputError(field, "legacy transaction must have 9 fields")
    nonce, gas_price, gas = (_int(items[i], f"{field}.{n}") for i, n in enumerate(("nonce", "gasPrice", "gas")))
    to = _address(items[3], f"{field}.to")
    value = _int(items[4], f"{field}.value")
    v, r, s = (_int(items[i], f"{field}.{n}") for i, n in zip((6, 7, 8), "vrs"))
    if v in (27, 28):
        chain_id, y, unsigned = None, v - 27, items[:6]
    elif v >= 35:
        chain_id = (v - 35) // 2
        y = v - 35 - 2 * chain_id
        unsigned = items[:6] + [chain_id, b"", b""]
    else:
        raise InputError(f"{field}.v", f"bad legacy v {v}")
    sender = recover(keccak(rlp.encode(unsigned)), _signature(y, r, s, field))
    return SignedTx("0x" + keccak(raw).hex(), sender, to, nonce, gas, gas_price, value, chain_id, raw)


def _typed(tx_type: int, items: object, raw: bytes, field: str) -> SignedTx:
    n_fields = {1: 11, 2: 12}[tx_type]
    if not isinstance(items, list) or len(items) != n_fields:
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
    digest = keccak(bytes([tx_type]) + rlp.encode(items[:-3]))
    sender = recover(digest, _signature(y, r, s, field))
    return SignedTx("0x" + keccak(raw).hex(), sender, to, nonce, gas, tip, value, chain_id, raw)
