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


def test_every_position_constraint_of_a_bid_reaches_the_auction():
    """A bid's ``bidOptions`` with three position constraints (mev-commit's ``repeated
    BidOption``): the scenario plans and checks all three, not only the first."""
    from mevauction.mechanism.commitments import ANCHOR_TOP, GAS_PERCENTILE, PERCENTILE
    from mevauction.preconf import bidoptions

    options = bidoptions.encode([bidoptions.PositionConstraint(ANCHOR_TOP, PERCENTILE, 40),
                                 bidoptions.PositionConstraint(ANCHOR_TOP, GAS_PERCENTILE, 20),
                                 bidoptions.PositionConstraint(ANCHOR_TOP, PERCENTILE, -1)])  # never met
    raws = [signed_transfer(KEY, n, "0x" + "11" * 20, tip=1) for n in range(2)]
    m = {"commitmentDigest": "cd" * 32, "bid": {"rawTransactions": raws, "bidOptions": "0x" + options.hex()}}
    doc = with_commitments(scenario([]), [m])
    [entry] = doc["commitments"]
    assert (entry["position"], entry["basis"]) == (40, "percentile")
    assert entry["more_positions"] == [{"anchor": "top", "position": 20, "basis": "gas_percentile"}]
    [bundle] = parse_scenario(doc).commitments
    assert bundle.constraints == ((ANCHOR_TOP, PERCENTILE, 40), (ANCHOR_TOP, GAS_PERCENTILE, 20))


def test_a_bid_whose_raw_transaction_the_block_cannot_execute_is_refused(tmp_path):
    """Attack: a bidder buys a commitment for a blob transaction, which no block of this
    service can execute; committed, it would be left out and the provider slashed."""
    import time

    import pytest
    from test_service_preconf_settle import ALICE, CONTRACT, Desk

    from mevauction.errors import InputError
    from mevauction.eth import rlp, secp256k1
    from mevauction.eth.transactions import BLOB, decode
    from mevauction.preconf.messages import Bid, SignedBid
    from mevauction.preconf.nike import GENERATOR
    from mevauction.service.clock import SlotClock

    i = rlp.encode_int
    fields = [i(1), i(0), i(2), i(30), i(21000), b"\x11" * 20, i(0), b"", [], i(7), [b"\x01" + b"\x22" * 31]]
    digest = keccak(bytes([BLOB]) + rlp.encode(fields))
    y, r, s = secp256k1.split(secp256k1.sign(digest, KEY))
    blob = bytes([BLOB]) + rlp.encode([*fields, i(y), i(r), i(s)])
    clock = SlotClock(time.time() - 0.5, 6.0)
    with Desk(f"sqlite:///{tmp_path / 'desk.db'}", clock) as desk:
        now = int(time.time() * 1000)
        b = Bid(decode(blob).hash[2:], 10**6, clock.current() + 1, now, now + 10_000, bidder_pk_x=GENERATOR[0],
                bidder_pk_y=GENERATOR[1])
        doc = {**SignedBid.sign(b, ALICE, desk.engine.params.chain_id, CONTRACT).to_json(),
               "rawTransactions": ["0x" + blob.hex()]}
        with pytest.raises(InputError) as exc:
            desk.parse([doc])
        assert exc.value.field == "params[0].rawTransactions[0].type" and "not supported" in exc.value.message


def test_a_bottom_anchored_bid_is_refused_before_anything_is_signed(tmp_path):
    """Attack on the provider: every block this service delivers ends with its settlement
    transactions, so a commitment to a bottom position would be broken by construction and
    the provider slashed by the oracle. The desk refuses such bids (top anchors are kept)."""
    import time

    import pytest
    from test_service_preconf_settle import ALICE, CONTRACT, Desk

    from mevauction.errors import InputError
    from mevauction.preconf import bidoptions
    from mevauction.preconf.messages import Bid, SignedBid
    from mevauction.preconf.nike import GENERATOR
    from mevauction.service.clock import SlotClock

    clock = SlotClock(time.time() - 0.5, 6.0)
    with Desk(f"sqlite:///{tmp_path / 'desk.db'}", clock) as desk:
        now = int(time.time() * 1000)

        def signed(anchor: int) -> dict:
            options = bidoptions.encode([bidoptions.PositionConstraint(anchor=anchor, basis=2, value=0)])
            b = Bid("ab" * 32, 10**6, clock.current() + 1, now, now + 10_000, bidder_pk_x=GENERATOR[0],
                    bidder_pk_y=GENERATOR[1], bid_options=options)
            return SignedBid.sign(b, ALICE, desk.engine.params.chain_id, CONTRACT).to_json()

        with pytest.raises(InputError) as exc:
            desk.parse([signed(2)])
        assert exc.value.field == "params[0].bidOptions" and "ANCHOR_BOTTOM" in exc.value.message
        assert desk.parse([signed(1)]) is not None


def test_a_delivered_block_with_table_orders_can_be_settled():
    """Table-world orders carry labels (``label:…``), never 0x hashes: the delivered block
    still lists them (they count for positions) under hashes no commitment names, so the
    settlement of a block with searchers' orders is not refused for ever."""
    from mevauction.preconf.settlement import DeliveredBlock
    from mevauction.service.preconf_block import block_hashes

    orders = [{"id": "a", "txs": ["label:a"], "gas": 30_000}, {"id": "b", "txs": ["label:b", "label:b2"]}]
    txs = block_hashes({"orders": orders}, {"block": ["a", "b"]})
    block = DeliveredBlock.from_txs(5, "0x" + "11" * 20, txs)
    assert len(block.transactions) == 3 and block.gas_used == 30_000 + 21_000
