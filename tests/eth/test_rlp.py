"""Canonical RLP against pyrlp (an independent implementation) and its non-canonical rejects."""

import pytest
import rlp as pyrlp
from hypothesis import given
from hypothesis import strategies as st

from mevauction.eth import rlp

items = st.recursive(st.binary(max_size=80), lambda children: st.lists(children, max_size=6), max_leaves=30)


@given(items)
def test_encode_matches_pyrlp_and_decodes_back(item):
    encoded = rlp.encode(item)
    assert encoded == pyrlp.encode(item)
    assert rlp.decode(encoded) == item


@pytest.mark.parametrize("raw, reason", [
    (b"\x81\x05", "single byte"),  # 0x05 must be encoded as itself
    (b"\xb8\x01\x00", "long form"),  # long form for a 1-byte string
    (b"\xb9\x00\x38" + b"\x00" * 56, "bad length prefix"),  # leading zero in the length
    (b"\x83ab", "truncated"),
    (b"\xc1\x80\x80", "trailing"),
    (b"\xc2\x83a", "truncated"),
])
def test_non_canonical_inputs_are_refused(raw, reason):
    with pytest.raises(rlp.RlpError, match=reason):
        rlp.decode(raw)


def test_deep_nesting_is_refused_before_the_recursion_limit():
    nested = b""
    for _ in range(600):
        nested = rlp.list_header(len(nested)) + nested
    with pytest.raises(rlp.RlpError, match="nested deeper"):
        rlp.decode(nested)
