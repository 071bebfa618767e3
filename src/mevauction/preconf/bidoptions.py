"""mev-commit's ``bidOptions``: the protobuf ``BidOptions`` message a bid signs as bytes.

Re-declared from ``p2p/rpc/bidderapi/v1/bidderapi.proto`` (field names and numbers as
theirs)::

    message BidOptions { repeated BidOption options = 1; }
    message BidOption { oneof opt { PositionConstraint position_constraint = 1;
                                    ShutterisedBidOption shutterised_bid_option = 2; } }
    message PositionConstraint { Anchor anchor = 1; Basis basis = 2; int32 value = 3; }
    message ShutterisedBidOption { string identity_prefix = 1; int64 eon_id = 2; string encrypted_tx = 3; }

The bidder node marshals the message and the bid digest hashes those bytes, so the
provider decodes exactly what was signed. This is a bounded decoder for just these
messages (protobuf wire format: varints and length-delimited fields; anything else is
refused), and an encoder in field order, as Go's ``proto.Marshal`` writes them. Its JSON
is protobuf's (``{"options": [{"positionConstraint": {"anchor": "ANCHOR_TOP", ...}}]}``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mevauction.errors import InputError, require

ANCHORS = ("ANCHOR_UNSPECIFIED", "ANCHOR_TOP", "ANCHOR_BOTTOM")
BASES = ("BASIS_UNSPECIFIED", "BASIS_PERCENTILE", "BASIS_ABSOLUTE", "BASIS_GAS_PERCENTILE")
MAX_OPTIONS = 16
MAX_BYTES = 4096
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


@dataclass(frozen=True, slots=True)
class PositionConstraint:
    anchor: int
    basis: int
    value: int


@dataclass(frozen=True, slots=True)
class Shutterised:
    identity_prefix: str
    eon_id: int
    encrypted_tx: str


Option = PositionConstraint | Shutterised


def _varint(raw: bytes, at: int, field: str) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        require(at < len(raw), field, "truncated varint")
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        require(shift < 70, field, "varint longer than 10 bytes")


def _fields(raw: bytes, field: str) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: varints as ints, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(raw):
        key, at = _varint(raw, at, field)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(raw, at, field)
            out.append((number, value))
        elif wire == 2:
            length, at = _varint(raw, at, field)
            require(at + length <= len(raw), field, "truncated length-delimited field")
            out.append((number, raw[at:at + length]))
            at += length
        else:
            raise InputError(field, f"protobuf wire type {wire} is not used by BidOptions")
    return out


def _int32(value: int) -> int:
    """A varint as proto's int32 (negative numbers arrive as 64-bit two's complement)."""
    value &= (1 << 64) - 1
    value = value - (1 << 64) if value >> 63 else value
    require(INT32_MIN <= value <= INT32_MAX, "bidOptions", "int32 out of range")
    return value


def _text(value: int | bytes, field: str) -> str:
    require(isinstance(value, bytes), field, "must be a string")
    assert isinstance(value, bytes)
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise InputError(field, "must be ASCII") from None


def decode(raw: bytes, field: str = "bidOptions") -> tuple[Option, ...]:
    """The options a bid's ``bidOptions`` bytes carry (empty bytes: none)."""
    require(len(raw) <= MAX_BYTES, field, f"longer than {MAX_BYTES} bytes")
    options: list[Option] = []
    for number, value in _fields(raw, field):
        require(number == 1 and isinstance(value, bytes), field, "BidOptions has only field 1 (options)")
        assert isinstance(value, bytes)
        inner = _fields(value, f"{field}.options[{len(options)}]")
        require(len(inner) == 1 and isinstance(inner[0][1], bytes) and inner[0][0] in (1, 2),
                f"{field}.options[{len(options)}]", "must hold exactly one option")
        kind, body = inner[0]
        assert isinstance(body, bytes)
        parts = dict(_fields(body, field))
        if kind == 1:
            anchor, basis = parts.get(1, 0), parts.get(2, 0)
            require(isinstance(anchor, int) and 0 <= anchor < len(ANCHORS), field, "unknown anchor")
            require(isinstance(basis, int) and 0 <= basis < len(BASES), field, "unknown basis")
            value3 = parts.get(3, 0)
            require(isinstance(value3, int), field, "value must be a varint")
            options.append(PositionConstraint(anchor, basis, _int32(value3)))  # type: ignore[arg-type]
        else:
            eon = parts.get(2, 0)
            require(isinstance(eon, int), field, "eon_id must be a varint")
            options.append(Shutterised(_text(parts.get(1, b""), field), eon,  # type: ignore[arg-type]
                                       _text(parts.get(3, b""), field)))
        require(len(options) <= MAX_OPTIONS, field, f"at most {MAX_OPTIONS} options")
    return tuple(options)


def _key(number: int, wire: int) -> bytes:
    return _uvarint(number << 3 | wire)


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _delimited(number: int, body: bytes) -> bytes:
    return _key(number, 2) + _uvarint(len(body)) + body


def encode(options: tuple[Option, ...] | list[Option]) -> bytes:
    """``proto.Marshal`` of BidOptions: fields in number order, zero values omitted."""
    out = b""
    for option in options:
        if isinstance(option, PositionConstraint):
            body = b""
            if option.anchor:
                body += _key(1, 0) + _uvarint(option.anchor)
            if option.basis:
                body += _key(2, 0) + _uvarint(option.basis)
            if option.value:
                body += _key(3, 0) + _uvarint(option.value & ((1 << 64) - 1))
            inner = _delimited(1, body)
        else:
            body = b""
            if option.identity_prefix:
                body += _delimited(1, option.identity_prefix.encode())
            if option.eon_id:
                body += _key(2, 0) + _uvarint(option.eon_id & ((1 << 64) - 1))
            if option.encrypted_tx:
                body += _delimited(3, option.encrypted_tx.encode())
            inner = _delimited(2, body)
        out += _delimited(1, inner)
    return out


def from_json(data: object, field: str = "bidOptions") -> tuple[Option, ...]:
    """Protobuf JSON of BidOptions (enum names or numbers), as the bidder API takes it."""
    if data is None:
        return ()
    require(isinstance(data, dict), field, "must be a JSON object {options: [...]}")
    assert isinstance(data, dict)
    items = data.get("options", [])
    require(isinstance(items, list) and len(items) <= MAX_OPTIONS, f"{field}.options",
            f"must be a list of at most {MAX_OPTIONS} options")
    out: list[Option] = []
    for i, item in enumerate(items):
        at = f"{field}.options[{i}]"
        require(isinstance(item, dict) and len(item) == 1, at, "must hold exactly one option")
        if "positionConstraint" in item:
            pc = item["positionConstraint"]
            require(isinstance(pc, dict), f"{at}.positionConstraint", "must be an object")
            out.append(PositionConstraint(_enum(pc.get("anchor", 0), ANCHORS, f"{at}.positionConstraint.anchor"),
                                          _enum(pc.get("basis", 0), BASES, f"{at}.positionConstraint.basis"),
                                          _json_int32(pc.get("value", 0), f"{at}.positionConstraint.value")))
        elif "shutterisedBidOption" in item:
            so = item["shutterisedBidOption"]
            require(isinstance(so, dict), f"{at}.shutterisedBidOption", "must be an object")
            prefix, tx = so.get("identityPrefix", ""), so.get("encryptedTx", "")
            require(isinstance(prefix, str) and prefix.isascii() and len(prefix) <= 66, f"{at}.identityPrefix",
                    "must be a hex string")
            require(isinstance(tx, str) and tx.isascii() and len(tx) <= 2 * MAX_BYTES, f"{at}.encryptedTx",
                    "must be a hex string")
            eon = so.get("eonId", 0)
            eon = int(eon) if isinstance(eon, str) and eon.isascii() and eon.isdigit() and len(eon) < 20 else eon
            require(isinstance(eon, int) and not isinstance(eon, bool) and 0 <= eon < 2**63, f"{at}.eonId",
                    "must be a non-negative int64")
            out.append(Shutterised(prefix, eon, tx))
        else:
            raise InputError(at, "must be positionConstraint or shutterisedBidOption")
    return tuple(out)


def to_json(options: tuple[Option, ...]) -> dict:
    items: list[dict] = []
    for o in options:
        if isinstance(o, PositionConstraint):
            items.append({"positionConstraint": {"anchor": ANCHORS[o.anchor], "basis": BASES[o.basis],
                                                 "value": o.value}})
        else:
            items.append({"shutterisedBidOption": {"identityPrefix": o.identity_prefix, "eonId": str(o.eon_id),
                                                   "encryptedTx": o.encrypted_tx}})
    return {"options": items}


def _enum(value: object, names: tuple[str, ...], field: str) -> int:
    if isinstance(value, str) and value in names:
        return names.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    raise InputError(field, f"must be one of {', '.join(names)}")


def _json_int32(value: object, field: str) -> int:
    require(isinstance(value, int) and not isinstance(value, bool) and INT32_MIN <= value <= INT32_MAX,
            field, "must be an int32")
    return value  # type: ignore[return-value]
