"""Signed Ethereum transactions: decode, hash and authenticate them; encode and sign.

Three envelopes (EIP-2718; execution-specs ``ethereum/cancun/transactions.py``):

- legacy: ``rlp([nonce, gasPrice, gas, to, value, data, v, r, s])``, signed over
  ``rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])`` when EIP-155
  (``v = 35 + 2 chainId + y``), else over the six fields (``v = 27 + y``);
- EIP-2930: ``0x01 || rlp([chainId, nonce, gasPrice, gas, to, value, data,
  accessList, yParity, r, s])``;
- EIP-1559: ``0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas,
  to, value, data, accessList, yParity, r, s])``.

A typed transaction is signed over ``type || rlp(fields without yParity, r, s)``; the
transaction hash is keccak256 of the raw bytes. Decoding accepts canonical RLP only
and hashes the signed fields exactly as they were sent (no re-encoding), which keeps
bundle intake fast. Signatures with ``s`` above half the curve order are invalid
(EIP-2). Every rejection is a ``TxError`` naming the field (a dotted path under the
caller's ``field``) and saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey

from mevauction.errors import InputError
from mevauction.keccak import keccak

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
LEGACY, ACCESS_LIST, DYNAMIC_FEE = 0, 1, 2
UINT256_MAX = 2**256 - 1
UINT64_MAX = 2**64 - 1


class TxError(InputError):
    """A raw transaction that cannot be decoded or whose signature is invalid."""


class RlpError(ValueError):
    """The bytes are not canonical RLP of the expected shape."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """A decoded, sender-recovered transaction (all integers; addresses lower-case hex)."""

    type: int
    chain_id: int | None
    nonce: int
    gas_limit: int
    to: str | None
    value: int
    data: bytes
    access_list: tuple[tuple[str, tuple[int, ...]], ...]
    max_priority_fee: int  # equals gas_price for legacy and EIP-2930
    max_fee: int  # equals gas_price for legacy and EIP-2930
    sender: str
    hash: str
    raw: bytes

    @property
    def tip_per_gas(self) -> int:
        """The priority fee the sender bids per gas, as a bundle's bid is counted."""
        return self.max_priority_fee

    def effective_gas_price(self, base_fee: int) -> int:
        """What the sender pays per gas (EIP-1559 ``min(max_fee, base_fee + tip)``)."""
        return min(self.max_fee, base_fee + self.max_priority_fee)

    def priority_fee_per_gas(self, base_fee: int) -> int:
        """What the fee recipient receives per gas; the base fee part is burned."""
        return self.effective_gas_price(base_fee) - base_fee


# Canonical RLP (Yellow Paper appendix B): the shortest form only, as execution clients accept.

def _length(data: bytes, pos: int, size: int) -> int:
    if size == 0 or pos + size > len(data) or data[pos] == 0:
        raise RlpError("bad length prefix")
    return int.from_bytes(data[pos:pos + size], "big")


def _payload(data: bytes, pos: int, prefix: int, base: int, kind: str) -> tuple[int, int]:
    """Start and end of the payload behind an RLP prefix of a string (base 0x80) or a
    list (base 0xC0): short form up to 55 bytes, else a length of the length."""
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


def rlp_item(data: bytes, pos: int) -> tuple[bytes | list, int]:
    """The RLP item at ``pos``: its value and the position after it."""
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
    items, _, end = rlp_list(data, pos)
    return items, end


def rlp_list(data: bytes, pos: int) -> tuple[list, list[int], int]:
    """The list at ``pos``: its items, each item's start offset (plus the end), and the end."""
    if pos >= len(data):
        raise RlpError("truncated")
    b = data[pos]
    if b < 0xC0:
        raise RlpError("not a list")
    start, end = _payload(data, pos, b, 0xC0, "list")
    items, offsets, cursor = [], [], start
    while cursor < end:
        offsets.append(cursor)
        item, cursor = rlp_item(data, cursor)
        items.append(item)
    if cursor != end:
        raise RlpError("item overruns its list")
    offsets.append(end)
    return items, offsets, end


def _header(offset: int, size: int) -> bytes:
    if size < 56:
        return bytes([offset + size])
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(length)]) + length


def rlp_encode(item: bytes | list) -> bytes:
    """The canonical RLP encoding of a byte string or a (nested) list of them."""
    if isinstance(item, list):
        body = b"".join(rlp_encode(x) for x in item)
        return _header(0xC0, len(body)) + body
    if len(item) == 1 and item[0] < 0x80:
        return item
    return _header(0x80, len(item)) + item


def _enc_int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""


# Decoding: each reader names its field under the transaction's own ``field``.

def _int(item: object, field: str, limit: int = UINT256_MAX) -> int:
    if not isinstance(item, bytes):
        raise TxError(field, "must be a byte string, not a list")
    if item[:1] == b"\x00":
        raise TxError(field, "has leading zero bytes (non-canonical integer)")
    value = int.from_bytes(item, "big")
    if value > limit:
        raise TxError(field, f"out of range (above 2**{limit.bit_length()} - 1)")
    return value


def _to(item: object, field: str) -> str | None:
    if not isinstance(item, bytes) or len(item) not in (0, 20):
        raise TxError(field, "must be empty or a 20-byte address")
    return "0x" + item.hex() if item else None


def _data(item: object, field: str) -> bytes:
    if not isinstance(item, bytes):
        raise TxError(field, "must be a byte string, not a list")
    return item


def _access_list(item: object, field: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if not isinstance(item, list):
        raise TxError(field, "must be a list")
    out = []
    for i, entry in enumerate(item):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes)
                and len(entry[0]) == 20 and isinstance(entry[1], list)):
            raise TxError(f"{field}[{i}]", "must be [20-byte address, [storage keys]]")
        keys = []
        for j, key in enumerate(entry[1]):
            if not isinstance(key, bytes) or len(key) != 32:
                raise TxError(f"{field}[{i}].storageKeys[{j}]", "must be 32 bytes")
            keys.append(int.from_bytes(key, "big"))
        out.append(("0x" + entry[0].hex(), tuple(keys)))
    return tuple(out)


def recover_sender(digest: bytes, y_parity: int, r: int, s: int, field: str = "tx") -> str:
    """The address whose key made the signature (r, s, yParity) over ``digest``."""
    if not 0 < r < SECP256K1_N:
        raise TxError(f"{field}.r", "signature value out of range (must be in 1..n-1)")
    if not 0 < s < SECP256K1_N:
        raise TxError(f"{field}.s", "signature value out of range (must be in 1..n-1)")
    if s > SECP256K1_N // 2:
        raise TxError(f"{field}.s", "is in the upper half of the curve order (EIP-2)")
    if y_parity not in (0, 1):
        raise TxError(f"{field}.yParity", f"must be 0 or 1, got {y_parity}")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    try:
        public = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    except Exception:  # coincurve raises a bare Exception for unrecoverable signatures
        raise TxError(field, "signature does not recover to a public key") from None
    return "0x" + keccak(public.format(compressed=False)[1:])[12:].hex()


def decode(raw: bytes, field: str = "tx") -> Transaction:
    """Decode a signed raw transaction and recover its sender; TxError names ``field``."""
    if not raw:
        raise TxError(field, "empty transaction")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw, field)
    if first in (ACCESS_LIST, DYNAMIC_FEE):
        return _decode_typed(first, raw, field)
    raise TxError(field, f"unsupported transaction type 0x{first:02x} (supported: legacy, 0x01, 0x02)")


def _envelope(raw: bytes, start: int, count: int, what: str, field: str) -> tuple[list, list[int]]:
    """The top-level list of ``count`` fields, which must fill ``raw`` from ``start``."""
    try:
        items, offsets, end = rlp_list(raw, start)
        if end != len(raw):
            raise RlpError("trailing bytes after the list")
    except RlpError as exc:
        raise TxError(field, f"{what} is not valid RLP: {exc}") from None
    except RecursionError:
        raise TxError(field, f"{what} is not valid RLP: nested too deeply") from None
    if len(items) != count:
        raise TxError(field, f"{what} must be an RLP list of {count} fields, got {len(items)}")
    return items, offsets


def _decode_legacy(raw: bytes, field: str) -> Transaction:
    items, offsets = _envelope(raw, 0, 9, "legacy transaction", field)
    nonce = _int(items[0], f"{field}.nonce", UINT64_MAX)
    gas_price = _int(items[1], f"{field}.gasPrice")
    gas = _int(items[2], f"{field}.gas", UINT64_MAX)
    to = _to(items[3], f"{field}.to")
    value = _int(items[4], f"{field}.value")
    data = _data(items[5], f"{field}.data")
    v, r, s = _int(items[6], f"{field}.v"), _int(items[7], f"{field}.r"), _int(items[8], f"{field}.s")
    unsigned = raw[offsets[0]:offsets[6]]  # the six signed fields, as sent
    if v in (27, 28):
        chain_id, y = None, v - 27
    elif v >= 35:
        chain_id, y = (v - 35) // 2, (v - 35) % 2
        unsigned += rlp_encode(_enc_int(chain_id)) + b"\x80\x80"
    else:
        raise TxError(f"{field}.v", f"legacy v must be 27, 28 or >= 35 (EIP-155), got {v}")
    sender = recover_sender(keccak(_header(0xC0, len(unsigned)) + unsigned), y, r, s, field)
    return Transaction(LEGACY, chain_id, nonce, gas, to, value, data, (), gas_price, gas_price,
                       sender, "0x" + keccak(raw).hex(), raw)


def _decode_typed(kind: int, raw: bytes, field: str) -> Transaction:
    count = 11 if kind == ACCESS_LIST else 12
    items, offsets = _envelope(raw, 1, count, f"type 0x{kind:02x} transaction", field)
    chain_id = _int(items[0], f"{field}.chainId", UINT64_MAX)
    nonce = _int(items[1], f"{field}.nonce", UINT64_MAX)
    if kind == ACCESS_LIST:
        tip = fee = _int(items[2], f"{field}.gasPrice")
        rest = items[3:]
    else:
        tip = _int(items[2], f"{field}.maxPriorityFeePerGas")
        fee = _int(items[3], f"{field}.maxFeePerGas")
        if tip > fee:
            raise TxError(f"{field}.maxPriorityFeePerGas", "exceeds maxFeePerGas")
        rest = items[4:]
    gas = _int(rest[0], f"{field}.gas", UINT64_MAX)
    to = _to(rest[1], f"{field}.to")
    value = _int(rest[2], f"{field}.value")
    data = _data(rest[3], f"{field}.data")
    access = _access_list(rest[4], f"{field}.accessList")
    y = _int(rest[5], f"{field}.yParity")
    r, s = _int(rest[6], f"{field}.r"), _int(rest[7], f"{field}.s")
    unsigned = raw[offsets[0]:offsets[-4]]  # every field but yParity, r, s, as sent
    digest = keccak(bytes([kind]) + _header(0xC0, len(unsigned)) + unsigned)
    sender = recover_sender(digest, y, r, s, field)
    return Transaction(kind, chain_id, nonce, gas, to, value, data, access, tip, fee, sender,
                       "0x" + keccak(raw).hex(), raw)


# Encoding and signing (the generator and block re-encoding in interop).

def _enc_access_list(access_list) -> list:
    return [[bytes.fromhex(a[2:]), [k.to_bytes(32, "big") for k in keys]] for a, keys in access_list]


def unsigned_fields(tx_type: int, chain_id: int | None, nonce: int, gas_limit: int, to: str | None,
                    value: int, data: bytes, access_list=(), max_priority_fee: int = 0,
                    max_fee: int = 0) -> list:
    """The RLP fields a transaction is signed over (without the signature)."""
    to_b = bytes.fromhex(to[2:]) if to else b""
    if tx_type == LEGACY:
        fields = [_enc_int(nonce), _enc_int(max_fee), _enc_int(gas_limit), to_b, _enc_int(value), data]
        return fields + ([_enc_int(chain_id), b"", b""] if chain_id is not None else [])
    if tx_type == ACCESS_LIST:
        return [_enc_int(chain_id or 0), _enc_int(nonce), _enc_int(max_fee), _enc_int(gas_limit), to_b,
                _enc_int(value), data, _enc_access_list(access_list)]
    if tx_type == DYNAMIC_FEE:
        return [_enc_int(chain_id or 0), _enc_int(nonce), _enc_int(max_priority_fee), _enc_int(max_fee),
                _enc_int(gas_limit), to_b, _enc_int(value), data, _enc_access_list(access_list)]
    raise TxError("type", f"unsupported transaction type {tx_type} (supported: 0, 1, 2)")


def encode_signed(tx_type: int, fields: list, y: int, r: int, s: int, chain_id: int | None) -> bytes:
    """The raw bytes of a transaction from its unsigned fields and a signature."""
    if tx_type == LEGACY:
        v = 27 + y if chain_id is None else 35 + 2 * chain_id + y
        return rlp_encode(fields[:6] + [_enc_int(v), _enc_int(r), _enc_int(s)])
    return bytes([tx_type]) + rlp_encode(fields + [_enc_int(y), _enc_int(r), _enc_int(s)])


def signing_hash(tx_type: int, fields: list) -> bytes:
    """The digest a transaction's signature covers (see the module docstring)."""
    if tx_type == LEGACY:
        return keccak(rlp_encode(fields))
    return keccak(bytes([tx_type]) + rlp_encode(fields))


def sign(private_key: bytes, tx_type: int, *, chain_id: int | None, nonce: int, gas_limit: int,
         to: str | None, value: int = 0, data: bytes = b"", access_list=(),
         max_priority_fee: int = 0, max_fee: int = 0) -> bytes:
    """Sign a transaction with a secp256k1 key; for legacy/2930 ``max_fee`` is the gas price."""
    fields = unsigned_fields(tx_type, chain_id, nonce, gas_limit, to, value, data, access_list,
                             max_priority_fee, max_fee)
    sig = PrivateKey(private_key).sign_recoverable(signing_hash(tx_type, fields), hasher=None)
    r, s, y = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
    return encode_signed(tx_type, fields, y, r, s, chain_id)


def address_of(private_key: bytes) -> str:
    """The lower-case address of a secp256k1 private key."""
    public = PrivateKey(private_key).public_key.format(compressed=False)
    return "0x" + keccak(public[1:])[12:].hex()
