"""The slot's commitments as scenario constraints (service/preconf_block.py), offline."""

from __future__ import annotations

from mevauction.client.sdk import signed_transfer
from mevauction.eth.keccak import keccak
from mevauction.intake.scenario import parse_scenario
from mevauction.service.preconf_block import committed_bundles, with_commitments

KEY = keccak(b"committed sender")


def commitment(digest: str, raws: list[str]) -> dict:
    return {"commitmentDigest": digest, "bid": {"rawTransactions": raws, "bidOptions": "0x"}}


def scenario(orders: list[dict]) -> dict:
    return {"format": "mevauction.scenario/1", "world": {"kind": "table"}, "orders": orders, "builders": []}


def test_an_order_named_like_a_commitment_cannot_displace_it():
    """Attack: the bidder sends an order whose id is the committed bundle's, hoping the
    slot's duplicate id gets the bundle left out and the provider slashed."""
    digest = "ab" * 32
    squatter = {"id": "preconf:" + digest[:16], "reads": ["k"], "writes": ["k"], "bid": {"default": 5}}
    raw = signed_transfer(KEY, 0, "0x" + "11" * 20, tip=1)
    doc = with_commitments(scenario([squatter]), [commitment(digest, [raw])])
    ids = [o["id"] for o in doc["orders"]]
    assert len(ids) == len(set(ids)) == 2
    report = parse_scenario(doc).run_auction()
    [c] = report.commitments
    assert c.included and c.order != squatter["id"] and report.block[0] == c.order


def test_commitments_without_raw_transactions_and_repeated_transactions_add_nothing():
    raw = signed_transfer(KEY, 0, "0x" + "11" * 20, tip=1)
    orders, entries = committed_bundles([commitment("01" * 32, []), commitment("02" * 32, [raw]),
                                         commitment("03" * 32, [raw])], {"kind": "table"})
    assert [e["commitment"] for e in entries] == ["02" * 32] and len(orders) == 1
    assert with_commitments(scenario([]), [commitment("01" * 32, [])]) == scenario([])
