"""Bounds on the shape of what one request carries, so no value can break a later stage.

Every JSON-RPC body is checked for nesting depth before it is dispatched (an object
nested hundreds deep parses, but overflows the recursion of ``pickle`` on its way to
the settlement worker). A world-native order (``mev_sendOrder``) may carry fields its
world ignores; its whole tree is bounded here: depth, string and list lengths, and
every number (an integer past 2**256 costs quadratic time to print and past the
interpreter's int-to-str limit cannot be written at all). The same check screens the
stored orders of a slot before its auction, for rows written before these bounds.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mevauction.errors import InputError
from mevauction.eth.fields import UINT256_MAX
from mevauction.eth.transactions import MAX_TX_BYTES

#: Nesting of a JSON-RPC body: a batch of requests of params of an order of its fields.
MAX_JSON_DEPTH = 32
#: Nesting of one order object (a bid table is three levels deep).
MAX_ORDER_DEPTH = 16
#: The longest string of an order (ids, keys, amounts, hashes)...
MAX_ORDER_STRING = 1024
#: ... but for the signed raw transactions in hex an evm order carries under these fields.
RAW_TX_FIELDS = frozenset({"raw_txs"})
MAX_RAW_TX_STRING = 2 * MAX_TX_BYTES + 2
MAX_ORDER_ITEMS = 10_000  # entries of one list or object in an order
MAX_ORDER_NODES = 100_000  # values in one order, all levels together
_NAME = re.compile(r"[A-Za-z0-9_\-]{1,40}")  # a key that can be named in an error's field path


def json_depth(doc: Any, limit: int) -> int:
    """The nesting depth of a parsed JSON document, walked without recursion; stops
    counting once past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, (dict, list)):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children)
    return deepest


def too_deep(body: bytes, doc: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the body's JSON nests deeper than ``limit``. A body with at most ``limit``
    brackets cannot, which spares the walk for every ordinary request."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    return json_depth(doc, limit) > limit


def check_order_shape(order: Any, field: str) -> None:
    """Refuse an order tree that is too deep, too long or holds an unbounded number;
    the error names the offending field (``order.junk[3]``)."""
    nodes = 0
    stack: list[tuple[Any, str, int, int]] = [(order, field, 1, MAX_ORDER_STRING)]
    while stack:
        value, where, depth, longest = stack.pop()
        nodes += 1
        if nodes > MAX_ORDER_NODES:
            raise InputError(field, f"holds more than {MAX_ORDER_NODES} values")
        if isinstance(value, str):
            if len(value) > longest:
                raise InputError(where, f"string too long: {len(value)} characters (at most {longest})")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -UINT256_MAX <= value <= UINT256_MAX:
                raise InputError(where, "number out of range (at most 2**256 - 1 in magnitude)")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InputError(where, "number must be finite")
        elif isinstance(value, (dict, list)):
            if depth > MAX_ORDER_DEPTH:
                raise InputError(where, f"nested too deep (at most {MAX_ORDER_DEPTH} levels)")
            if len(value) > MAX_ORDER_ITEMS:
                raise InputError(where, f"too many entries: {len(value)} (at most {MAX_ORDER_ITEMS})")
            if isinstance(value, dict):
                long_key = next((k for k in value if len(k) > MAX_ORDER_STRING), None)
                if long_key is not None:
                    raise InputError(where, f"key too long: {len(long_key)} characters (at most {MAX_ORDER_STRING})")
                stack.extend((v, f"{where}.{k}" if _NAME.fullmatch(k) else where, depth + 1,
                              MAX_RAW_TX_STRING if k in RAW_TX_FIELDS else MAX_ORDER_STRING) for k, v in value.items())
            else:
                # A field path names one index per name (``a.b[3]``); deeper lists share it.
                inner = where if where.endswith("]") else None
                stack.extend((v, inner or f"{where}[{i}]", depth + 1, longest) for i, v in enumerate(value))
        else:
            raise InputError(where, f"not a JSON value ({type(value).__name__})")
