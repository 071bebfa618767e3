"""``mevauction serve --sealed``: builder bids opened by a local MPC committee at the
deadline; a slot with builder bids settles to the same report as the auction run in the
clear on the same orders and bids."""

import pytest

from mevauction.client import Client, Signer
from mevauction.intake.scenario import parse_scenario
from mevauction.mechanism.boost import run_auction
from mevauction.service.settle import build_scenario
from service_harness import ServerProcess

pytest.importorskip("mevauction.privacy.builder_auction")

ORDERS = [
    {"id": "o1", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 40, "after": {"o2": 100}}},
    {"id": "o2", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 50, "after": {"o1": 80}}},
    {"id": "o3", "reads": ["k2"], "writes": ["k2"], "bid": {"default": 20}},
    {"id": "o4", "reads": ["k2"], "writes": ["k2"], "bid": {"default": 25, "after": {"o3": 30}}},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("sealed") / "svc.db"
    proc = ServerProcess(f"sqlite:///{db}", slot_seconds=3.0, extra=["--sealed"]).start()
    yield proc
    proc.stop()


def test_builder_bids_through_the_committee_settle_like_the_clear_auction(server):
    builders = [Signer.random(), Signer.random(), Signer.random()]
    submissions = {builders[0].address: {"block": ["o2", "o1", "o3", "o4"], "bid": 230},
                   builders[1].address: {"block": ["o2", "o1", "o4"], "bid": 205},
                   builders[2].address: {"algorithm": "default", "bid": "truthful"}}
    with Client(server.url, Signer.random()) as searcher:
        slot = searcher.slot()["slot"] + 1
        for order in ORDERS:
            searcher.send_order(order, slot)
        for signer in builders:
            with Client(server.url, signer) as builder:
                sub = submissions[signer.address]
                builder.send_builder_bid(slot, bid=sub["bid"], algorithm=sub.get("algorithm"), block=sub.get("block"))
        report = searcher.wait_report(slot, timeout=120)
    clear = run_auction(parse_scenario(build_scenario({"kind": "table"}, ORDERS, submissions, 30_000_000))).to_json()
    assert "error" not in report
    assert report["winner"] != "default"  # the committee picked a builder, as in the clear
    for key in ("winner", "block", "proposer", "searchers", "builders", "builder_settlement", "default"):
        assert report[key] == clear[key], key
