"""Bounded, canonical field parsers: what Python's int() and bytes.fromhex() let through is refused here."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mevauction.errors import InputError, as_wei
from mevauction.eth import fields
from mevauction.eth.fields import UINT64_MAX, UINT256_MAX


@pytest.mark.parametrize("text", [
    "0x_1", "0x1_0", " 0x1", "0x1 ", "0x01", "0x", "1", "0X1", "0x-1", "0x+1",
    "0x" + "\u0663",  # Arabic-Indic three: int("٣", 16) is 3
    "0x" + "f" * 65,  # above uint256 by length
    "0x" + "1" * 10_000,  # the 10,000-digit blockNumber that once produced HTTP 500
])
def test_quantity_refuses_non_canonical_and_unbounded(text):
    with pytest.raises(InputError) as info:
        fields.quantity(text, "blockNumber")
    assert info.value.field == "blockNumber"


@pytest.mark.parametrize("text", ["", "01", "+1", "-1", " 1", "1 ", "1_000", "\u0663", "１", "1e3",
                                  "9" * 79, "1" * 10_000, str(UINT256_MAX + 1)])
def test_decimal_refuses_non_canonical_and_unbounded(text):
    with pytest.raises(InputError) as info:
        fields.decimal(text, "bid")
    assert info.value.field == "bid"


@given(st.integers(0, UINT256_MAX))
def test_canonical_spellings_round_trip(n):
    assert fields.quantity(hex(n), "q") == n
    assert fields.decimal(str(n), "d") == n
    assert fields.wei(n, "w") == fields.wei(str(n), "w") == fields.wei(hex(n), "w") == n


def test_maximum_is_enforced_exactly():
    assert fields.uint(hex(UINT64_MAX), "gas", UINT64_MAX) == UINT64_MAX
    for bad in (hex(UINT64_MAX + 1), UINT64_MAX + 1):
        with pytest.raises(InputError, match="out of range|too long"):
            fields.uint(bad, "gas", UINT64_MAX)
    with pytest.raises(InputError, match="out of range"):
        as_wei(UINT256_MAX + 1, "bid")
    with pytest.raises(InputError, match="too long"):
        as_wei("1" * 4_000, "bid")  # past Python's int-to-str limit: refused before conversion


@pytest.mark.parametrize("value", [True, False, None, 1.5, [], {}, -1])
def test_wrong_types_name_the_field(value):
    with pytest.raises(InputError) as info:
        fields.wei(value, "orders[3].bid")
    assert info.value.field == "orders[3].bid"


def test_data_is_even_hex_with_prefix_and_bounded():
    assert fields.data("0x", "d") == b""
    assert fields.data("0xABcd", "d") == b"\xab\xcd"
    assert fields.data("abcd", "d", prefix=False) == b"\xab\xcd"
    for bad in ("abcd", "0xabc", "0xab cd", "0x\u0663\u0663", "0X00"):
        with pytest.raises(InputError):
            fields.data(bad, "d")
    with pytest.raises(InputError, match="too long"):
        fields.data("0x" + "00" * 33, "d", max_length=32)
    with pytest.raises(InputError, match="must be 32 bytes"):
        fields.bytes32("0x" + "00" * 31, "h")


def test_address_checks_the_eip55_checksum_of_mixed_case():
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # the EIP-55 example
    assert fields.checksum(good.lower()) == good
    assert fields.address(good, "to") == good.lower()
    assert fields.address(good.upper().replace("0X", "0x"), "to") == good.lower()
    with pytest.raises(InputError, match="checksum"):
        fields.address(good[:-1] + "D", "to")
    with pytest.raises(InputError, match="20 bytes"):
        fields.address("0x" + "11" * 19, "to")


def test_word_accepts_padded_tracer_words():
    assert fields.word("0x" + "00" * 31 + "05", "slot") == 5
    assert fields.word("0x5", "slot") == 5
    with pytest.raises(InputError):
        fields.word("0x" + "0" * 65, "slot")
