"""Signed Ethereum transactions: decode, hash and authenticate them; encode and sign.

The envelopes (EIP-2718; execution-specs ``ethereum/prague/transactions.py``):

- legacy: ``rlp([nonce, gasPrice, gas, to, value, data, v, r, s])``, signed over
  ``rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])`` when EIP-155
  (``v = 35 + 2 chainId + y``), else over the six fields (``v = 27 + y``);
- 0x01 (EIP-2930): ``rlp([chainId, nonce, gasPrice, gas, to, value, data, accessList,
  yParity, r, s])``;
- 0x02 (EIP-1559): ``rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to,
  value, data, accessList, yParity, r, s])``;
- 0x03 (EIP-4844, blob): the 1559 fields with ``to`` required, then
  ``maxFeePerBlobGas, blobVersionedHashes`` before the signature; on the network it may be
  wrapped as ``rlp([tx, blobs, commitments, proofs])``;
- 0x04 (EIP-7702, set-code): the 1559 fields with ``to`` required, then
  ``authorizationList`` (``[chainId, address, nonce, yParity, r, s]`` each) before the
  signature.

A typed transaction is signed over ``type || rlp(fields without yParity, r, s)``; its hash
is keccak256 of the raw bytes (for a wrapped blob transaction, of ``0x03 || rlp(tx)``).
Decoding accepts canonical RLP only and hashes the signed fields exactly as they were
sent (no re-encoding), which keeps bundle intake fast. Types 3 and 4 are decoded in
full so that callers can refuse them by name (:data:`TYPE_NAMES`); encoding and signing
cover types 0–2, the ones the package executes. Every rejection is a :class:`TxError`
(or :class:`~mevauction.eth.secp256k1.BadSignature`) naming a dotted field under the
caller's ``field``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mevauction.eth import rlp, secp256k1
from mevauction.eth.errors import InputError
from mevauction.eth.fields import UINT64_MAX, UINT256_MAX
from mevauction.eth.keccak import keccak
from mevauction.eth.rlp import RlpError

LEGACY, ACCESS_LIST, DYNAMIC_FEE, BLOB, SET_CODE = 0, 1, 2, 3, 4
TYPE_NAMES = {LEGACY: "legacy", ACCESS_LIST: "EIP-2930 access-list", DYNAMIC_FEE: "EIP-1559 dynamic-fee",
              BLOB: "EIP-4844 blob", SET_CODE: "EIP-7702 set-code"}
#: The types the package can execute (and encode/sign).
EXECUTABLE = frozenset({LEGACY, ACCESS_LIST, DYNAMIC_FEE})

#: The largest signed transaction accepted, in bytes (geth's transaction-pool limit).
MAX_TX_BYTES = 128 * 1024

AccessList = tuple[tuple[str, tuple[int, ...]], ...]


class TxError(InputError):
    """A raw transaction that cannot be decoded."""


@dataclass(frozen=True, slots=True)
class Authorization:
    """One EIP-7702 authorization tuple (signed by ``authority``, recovered on decode)."""

    chain_id: int
    address: str
    nonce: int
    authority: str | None  # None when its signature does not recover (such tuples are skipped on chain)


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
    access_list: AccessList
    max_priority_fee: int  # equals gas_price for legacy and EIP-2930
    max_fee: int  # equals gas_price for legacy and EIP-2930
    sender: str
    hash: str
    raw: bytes
    max_fee_per_blob_gas: int = 0
    blob_versioned_hashes: tuple[str, ...] = ()
    authorizations: tuple[Authorization, ...] = ()

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.type]

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


def refuse_unexecutable(tx: Transaction, field: str) -> Transaction:
    """``tx`` if the package can execute its type; a TxError naming the type otherwise."""
    if tx.type not in EXECUTABLE:
        raise TxError(f"{field}.type", f"{tx.type_name} transactions (type 0x{tx.type:02x}) are not supported "
                                       "(supported: legacy, 0x01, 0x02)")
    return tx


# Field readers: each names its field under the transaction's own ``field``.

def _int(item: object, field: str, limit: int = UINT256_MAX) -> int:
    if not isinstance(item, bytes):
        raise TxError(field, "must be a byte string, not a list")
    if item[:1] == b"\x00":
        raise TxError(field, "has leading zero bytes (non-canonical integer)")
    if len(item) > 32:
        raise TxError(field, "out of range (above 2**256 - 1)")
    value = int.from_bytes(item, "big")
    if value > limit:
        raise TxError(field, f"out of range (above 2**{limit.bit_length()} - 1)")
    return value


def _address(item: object, field: str) -> str:
    if not isinstance(item, bytes) or len(item) != 20:
        raise TxError(field, "must be a 20-byte address")
    return "0x" + item.hex()


def _to(item: object, field: str) -> str | None:
    if isinstance(item, bytes) and not item:
        return None  # contract creation
    return _address(item, field)


def _bytes(item: object, field: str) -> bytes:
    if not isinstance(item, bytes):
        raise TxError(field, "must be a byte string, not a list")
    return item


def _list(item: object, field: str) -> list[rlp.Item]:
    if not isinstance(item, list):
        raise TxError(field, "must be a list")
    return item


def _access_list(item: object, field: str) -> AccessList:
    out = []
    for i, entry in enumerate(_list(item, field)):
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


def _blob_hashes(item: object, field: str) -> tuple[str, ...]:
    hashes = []
    for i, h in enumerate(_list(item, field)):
        if not isinstance(h, bytes) or len(h) != 32:
            raise TxError(f"{field}[{i}]", "must be 32 bytes")
        hashes.append("0x" + h.hex())
    if not hashes:
        raise TxError(field, "a blob transaction carries at least one blob")
    return tuple(hashes)


def _authorizations(item: object, field: str) -> tuple[Authorization, ...]:
    out = []
    for i, entry in enumerate(_list(item, field)):
        where = f"{field}[{i}]"
        if not isinstance(entry, list) or len(entry) != 6:
            raise TxError(where, "must be [chainId, address, nonce, yParity, r, s]")
        chain_id = _int(entry[0], f"{where}.chainId")
        address = _address(entry[1], f"{where}.address")
        nonce = _int(entry[2], f"{where}.nonce", UINT64_MAX)
        y, r, s = (_int(entry[3], f"{where}.yParity", 255), _int(entry[4], f"{where}.r"),
                   _int(entry[5], f"{where}.s"))
        # EIP-7702: the authority signs keccak(0x05 || rlp([chainId, address, nonce])).
        digest = keccak(b"\x05" + rlp.encode([rlp.encode_int(chain_id), entry[1], rlp.encode_int(nonce)]))
        try:
            authority: str | None = secp256k1.recover_parts(digest, y, r, s, where)
        except secp256k1.BadSignature:
            authority = None
        out.append(Authorization(chain_id, address, nonce, authority))
    if not out:
        raise TxError(field, "a set-code transaction carries at least one authorization")
    return tuple(out)


# Decoding.

def decode(raw: bytes, field: str = "tx") -> Transaction:
    """Decode a signed raw transaction and recover its sender; TxError names ``field``."""
    if not raw:
        raise TxError(field, "empty transaction")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw, field)
    if first in (ACCESS_LIST, DYNAMIC_FEE, SET_CODE):
        return _decode_typed(first, raw, 1, field)
    if first == BLOB:
        return _decode_blob(raw, field)
    raise TxError(field, f"unknown transaction type 0x{first:02x} (known: legacy, 0x01-0x04)")


def _envelope(raw: bytes, start: int, count: int, what: str, field: str,
              end: int | None = None) -> tuple[list[rlp.Item], list[int]]:
    """The list of ``count`` fields at ``start``, which must end exactly at ``end``."""
    try:
        items, offsets, stop = rlp.decode_list(raw, start)
        if stop != (len(raw) if end is None else end):
            raise RlpError("trailing bytes after the list")
    except RlpError as exc:
        raise TxError(field, f"{what} is not valid RLP: {exc}") from None
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
    data = _bytes(items[5], f"{field}.data")
    v, r, s = _int(items[6], f"{field}.v"), _int(items[7], f"{field}.r"), _int(items[8], f"{field}.s")
    unsigned = raw[offsets[0]:offsets[6]]  # the six signed fields, as sent
    if v in (27, 28):
        chain_id, y = None, v - 27
    elif v >= 35:
        chain_id, y = (v - 35) // 2, (v - 35) % 2
        if chain_id > UINT64_MAX:
            raise TxError(f"{field}.v", "encodes a chain id above 2**64 - 1")
        unsigned += rlp.encode(rlp.encode_int(chain_id)) + b"\x80\x80"
    else:
        raise TxError(f"{field}.v", f"legacy v must be 27, 28 or >= 35 (EIP-155), got {v}")
    sender = secp256k1.recover_parts(keccak(rlp.list_header(len(unsigned)) + unsigned), y, r, s, field)
    return Transaction(LEGACY, chain_id, nonce, gas, to, value, data, (), gas_price, gas_price,
                       sender, "0x" + keccak(raw).hex(), raw)


_FIELD_COUNTS = {ACCESS_LIST: 11, DYNAMIC_FEE: 12, BLOB: 14, SET_CODE: 13}


def _decode_typed(kind: int, raw: bytes, start: int, field: str, end: int | None = None) -> Transaction:
    """A typed transaction whose field list starts at ``raw[start]`` (after the type byte)."""
    items, offsets = _envelope(raw, start, _FIELD_COUNTS[kind], f"type 0x{kind:02x} transaction", field, end)
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
    to = _to(rest[1], f"{field}.to") if kind in (ACCESS_LIST, DYNAMIC_FEE) else _address(rest[1], f"{field}.to")
    value = _int(rest[2], f"{field}.value")
    data = _bytes(rest[3], f"{field}.data")
    access = _access_list(rest[4], f"{field}.accessList")
    blob_fee = 0
    blob_hashes: tuple[str, ...] = ()
    auths: tuple[Authorization, ...] = ()
    if kind == BLOB:
        blob_fee = _int(rest[5], f"{field}.maxFeePerBlobGas")
        blob_hashes = _blob_hashes(rest[6], f"{field}.blobVersionedHashes")
    elif kind == SET_CODE:
        auths = _authorizations(rest[5], f"{field}.authorizationList")
    y = _int(items[-3], f"{field}.yParity", 255)
    r, s = _int(items[-2], f"{field}.r"), _int(items[-1], f"{field}.s")
    unsigned = raw[offsets[0]:offsets[-4]]  # every field but yParity, r, s, as sent
    digest = keccak(bytes([kind]) + rlp.list_header(len(unsigned)) + unsigned)
    sender = secp256k1.recover_parts(digest, y, r, s, field)
    signed = raw if end is None else raw[:end]
    return Transaction(kind, chain_id, nonce, gas, to, value, data, access, tip, fee, sender,
                       "0x" + keccak(bytes([kind]) + signed[start:]).hex(), raw, blob_fee, blob_hashes, auths)


def _decode_blob(raw: bytes, field: str) -> Transaction:
    """A blob transaction, bare (``0x03 || rlp(tx)``) or in its network wrapper
    (``0x03 || rlp([tx, blobs, commitments, proofs])``): the first item tells which."""
    try:
        outer, offsets, stop = rlp.decode_list(raw, 1)
    except RlpError as exc:
        raise TxError(field, f"type 0x03 transaction is not valid RLP: {exc}") from None
    if outer and isinstance(outer[0], list):
        if len(outer) != 4 or stop != len(raw):
            raise TxError(field, "a wrapped blob transaction is rlp([tx, blobs, commitments, proofs])")
        return _decode_typed(BLOB, raw, offsets[0], field, offsets[1])
    return _decode_typed(BLOB, raw, 1, field)


# Encoding and signing (types 0–2: the generator, the client and block re-encoding).

def _enc_access_list(access_list: AccessList) -> list[rlp.Item]:
    return [[bytes.fromhex(a[2:]), [k.to_bytes(32, "big") for k in keys]] for a, keys in access_list]


def unsigned_fields(tx_type: int, chain_id: int | None, nonce: int, gas_limit: int, to: str | None,
                    value: int, data: bytes, access_list: AccessList = (), max_priority_fee: int = 0,
                    max_fee: int = 0) -> list[rlp.Item]:
    """The RLP fields a transaction is signed over (without the signature)."""
    i = rlp.encode_int
    to_b = bytes.fromhex(to[2:]) if to else b""
    if tx_type == LEGACY:
        fields: list[rlp.Item] = [i(nonce), i(max_fee), i(gas_limit), to_b, i(value), data]
        return fields + ([i(chain_id), b"", b""] if chain_id is not None else [])
    if tx_type == ACCESS_LIST:
        return [i(chain_id or 0), i(nonce), i(max_fee), i(gas_limit), to_b, i(value), data,
                _enc_access_list(access_list)]
    if tx_type == DYNAMIC_FEE:
        return [i(chain_id or 0), i(nonce), i(max_priority_fee), i(max_fee), i(gas_limit), to_b,
                i(value), data, _enc_access_list(access_list)]
    raise TxError("type", f"cannot encode transaction type {tx_type} (supported: 0, 1, 2)")


def encode_signed(tx_type: int, fields: Sequence[rlp.Item], y: int, r: int, s: int, chain_id: int | None) -> bytes:
    """The raw bytes of a transaction from its unsigned fields and a signature."""
    i = rlp.encode_int
    if tx_type == LEGACY:
        v = 27 + y if chain_id is None else 35 + 2 * chain_id + y
        return rlp.encode([*fields[:6], i(v), i(r), i(s)])
    return bytes([tx_type]) + rlp.encode([*fields, i(y), i(r), i(s)])


def signing_hash(tx_type: int, fields: Sequence[rlp.Item]) -> bytes:
    """The digest a transaction's signature covers (see the module docstring)."""
    if tx_type == LEGACY:
        return keccak(rlp.encode(list(fields)))
    return keccak(bytes([tx_type]) + rlp.encode(list(fields)))


def sign(key: bytes, tx_type: int, *, chain_id: int | None, nonce: int, gas_limit: int,
         to: str | None, value: int = 0, data: bytes = b"", access_list: AccessList = (),
         max_priority_fee: int = 0, max_fee: int = 0) -> bytes:
    """Sign a transaction with a secp256k1 key; for legacy/2930 ``max_fee`` is the gas price."""
    fields = unsigned_fields(tx_type, chain_id, nonce, gas_limit, to, value, data, access_list,
                             max_priority_fee, max_fee)
    y, r, s = secp256k1.split(secp256k1.sign(signing_hash(tx_type, fields), key))
    return encode_signed(tx_type, fields, y, r, s, chain_id)


def bundle_hash(txs: Sequence[Transaction]) -> str:
    """keccak256 of the concatenated transaction hashes (the Flashbots bundle hash)."""
    return "0x" + keccak(b"".join(bytes.fromhex(t.hash[2:]) for t in txs)).hex()
