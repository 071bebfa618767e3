"""Signed Ethereum transactions: decode, recover the sender, encode and sign.

Three envelopes (execution-specs, ``ethereum/cancun/transactions.py``):

- legacy: ``rlp([nonce, gas_price, gas, to, value, data, v, r, s])``; signed over
  ``rlp([nonce, gas_price, gas, to, value, data, chain_id, 0, 0])`` when EIP-155
  (``v = 35 + 2 chain_id + y``), else over the six fields (``v = 27 + y``);
- EIP-2930: ``0x01 || rlp([chain_id, nonce, gas_price, gas, to, value, data,
  access_list, y, r, s])``;
- EIP-1559: ``0x02 || rlp([chain_id, nonce, max_priority_fee, max_fee, gas, to,
  value, data, access_list, y, r, s])``.

A typed transaction is signed over ``type || rlp(fields without y, r, s)``. The
transaction hash is ``keccak256`` of the raw bytes. Signatures with ``s`` above
half the curve order are invalid (EIP-2). Every rejection names the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
LEGACY, ACCESS_LIST, DYNAMIC_FEE = 0, 1, 2
UINT256_MAX = 2**256 - 1
UINT64_MAX = 2**64 - 1


class TxError(ValueError):
    """A raw transaction that cannot be decoded or whose signature is invalid."""


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

    def effective_gas_price(self, base_fee: int) -> int:
        """What the sender pays per gas (EIP-1559 ``min(max_fee, base_fee + tip)``)."""
        return min(self.max_fee, base_fee + self.max_priority_fee)

    def priority_fee_per_gas(self, base_fee: int) -> int:
        """What the fee recipient receives per gas; the base fee part is burned."""
        return self.effective_gas_price(base_fee) - base_fee


def _int(item: object, name: str, limit: int = UINT256_MAX) -> int:
    if not isinstance(item, bytes):
        raise TxError(f"{name} must be a byte string")
    if len(item) > 1 and item[0] == 0 or item == b"\x00":
        raise TxError(f"{name} has leading zero bytes (non-canonical integer)")
    value = int.from_bytes(item, "big")
    if value > limit:
        raise TxError(f"{name} out of range")
    return value


def _to(item: object) -> str | None:
    if not isinstance(item, bytes) or len(item) not in (0, 20):
        raise TxError("to must be empty or a 20-byte address")
    return "0x" + item.hex() if item else None


def _access_list(item: object) -> tuple[tuple[str, tuple[int, ...]], ...]:
    if not isinstance(item, list):
        raise TxError("access list must be a list")
    out = []
    for entry in item:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], bytes)
                and len(entry[0]) == 20 and isinstance(entry[1], list)):
            raise TxError("access list entry must be [address, [storage keys]]")
        keys = []
        for key in entry[1]:
            if not isinstance(key, bytes) or len(key) != 32:
                raise TxError("access list storage key must be 32 bytes")
            keys.append(int.from_bytes(key, "big"))
        out.append(("0x" + entry[0].hex(), tuple(keys)))
    return tuple(out)


def recover_sender(msg_hash: bytes, y_parity: int, r: int, s: int) -> str:
    """The address whose key produced the signature (r, s, y) over ``msg_hash``."""
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise TxError("signature r or s out of range")
    if s > SECP256K1_N // 2:
        raise TxError("signature s is in the upper half of the curve order (EIP-2)")
    if y_parity not in (0, 1):
        raise TxError("signature y parity must be 0 or 1")
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    try:
        public = PublicKey.from_signature_and_message(sig, msg_hash, hasher=None)
    except Exception:  # coincurve raises a bare Exception for unrecoverable signatures
        raise TxError("signature does not recover to a public key") from None
    return "0x" + keccak(public.format(compressed=False)[1:])[12:].hex()


def decode(raw: bytes) -> Transaction:
    """Decode a signed raw transaction and recover its sender."""
    if not raw:
        raise TxError("empty transaction")
    tx_hash = "0x" + keccak(raw).hex()
    if raw[0] >= 0xC0:
        return _decode_legacy(raw, tx_hash)
    if raw[0] in (ACCESS_LIST, DYNAMIC_FEE):
        return _decode_typed(raw, tx_hash)
    raise TxError(f"unsupported transaction type 0x{raw[0]:02x} (supported: legacy, 0x01, 0x02)")


def _rlp_list(payload: bytes, count: int, what: str) -> list:
    try:
        items = rlp.decode(payload, strict=True)
    except Exception as exc:
        raise TxError(f"{what} is not valid RLP: {type(exc).__name__}") from None
    if not isinstance(items, list) or len(items) != count:
        raise TxError(f"{what} must be an RLP list of {count} fields")
    return items


def _decode_legacy(raw: bytes, tx_hash: str) -> Transaction:
    items = _rlp_list(raw, 9, "legacy transaction")
    nonce = _int(items[0], "nonce", UINT64_MAX)
    gas_price = _int(items[1], "gas price")
    gas = _int(items[2], "gas limit", UINT64_MAX)
    to = _to(items[3])
    value = _int(items[4], "value")
    if not isinstance(items[5], bytes):
        raise TxError("data must be a byte string")
    v, r, s = _int(items[6], "v"), _int(items[7], "r"), _int(items[8], "s")
    if v in (27, 28):
        chain_id, y = None, v - 27
        unsigned = items[:6]
    elif v >= 35:
        chain_id, y = (v - 35) // 2, (v - 35) % 2
        unsigned = items[:6] + [_enc_int(chain_id), b"", b""]
    else:
        raise TxError(f"legacy v must be 27, 28 or >= 35 (EIP-155), got {v}")
    sender = recover_sender(keccak(rlp.encode(unsigned)), y, r, s)
    return Transaction(LEGACY, chain_id, nonce, gas, to, value, items[5], (), gas_price, gas_price,
                       sender, tx_hash, raw)


def _decode_typed(raw: bytes, tx_hash: str) -> Transaction:
    kind = raw[0]
    count = 11 if kind == ACCESS_LIST else 12
    items = _rlp_list(raw[1:], count, f"type 0x{kind:02x} transaction")
    chain_id = _int(items[0], "chain id", UINT64_MAX)
    nonce = _int(items[1], "nonce", UINT64_MAX)
    if kind == ACCESS_LIST:
        tip = fee = _int(items[2], "gas price")
        rest = items[3:]
    else:
        tip = _int(items[2], "max priority fee per gas")
        fee = _int(items[3], "max fee per gas")
        if tip > fee:
            raise TxError("max priority fee per gas exceeds max fee per gas")
        rest = items[4:]
    gas = _int(rest[0], "gas limit", UINT64_MAX)
    to = _to(rest[1])
    value = _int(rest[2], "value")
    if not isinstance(rest[3], bytes):
        raise TxError("data must be a byte string")
    access = _access_list(rest[4])
    y, r, s = _int(rest[5], "y parity"), _int(rest[6], "r"), _int(rest[7], "s")
    signing = bytes([kind]) + rlp.encode(items[:-3])
    sender = recover_sender(keccak(signing), y, r, s)
    return Transaction(kind, chain_id, nonce, gas, to, value, rest[3], access, tip, fee, sender, tx_hash, raw)


def _enc_int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""


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
    raise TxError(f"unsupported transaction type {tx_type}")


def encode_signed(tx_type: int, fields: list, y: int, r: int, s: int, chain_id: int | None) -> bytes:
    """The raw bytes of a transaction from its unsigned fields and a signature."""
    if tx_type == LEGACY:
        v = 27 + y if chain_id is None else 35 + 2 * chain_id + y
        return rlp.encode(fields[:6] + [_enc_int(v), _enc_int(r), _enc_int(s)])
    return bytes([tx_type]) + rlp.encode(fields + [_enc_int(y), _enc_int(r), _enc_int(s)])


def signing_hash(tx_type: int, fields: list) -> bytes:
    if tx_type == LEGACY:
        return keccak(rlp.encode(fields))
    return keccak(bytes([tx_type]) + rlp.encode(fields))


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
    public = PrivateKey(private_key).public_key.format(compressed=False)
    return "0x" + keccak(public[1:])[12:].hex()
