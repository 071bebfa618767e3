"""An ``evm`` slot settled through the service: real signed transactions sent as
eth_sendBundle against a world from ``mevauction.intake.workloads.evm``, executed by the
evm world at the deadline; the stored report equals running the auction on the same
orders directly."""


import pytest
from service_harness import world_server

from mevauction.client import Client, Signer
from mevauction.eth.transactions import decode as decode_signed_tx
from mevauction.intake.scenario import parse_scenario
from mevauction.service.api import amounts_as_text
from mevauction.service.intake import bundle_hash
from mevauction.service.views import public_report
from mevauction.settlement.report import ReportDocument

pytestmark = pytest.mark.slow  # starts a service process

pytest.importorskip("pyrevm")

ORDERS = 10


@pytest.fixture(scope="module")
def generated():
    from mevauction.intake.workloads.evm import generate
    return generate(orders=ORDERS, seed=3)


@pytest.fixture(scope="module")
def server(tmp_path_factory, generated):
    proc = world_server(tmp_path_factory.mktemp("evm"), generated)
    yield proc
    proc.stop()


def test_evm_slot_of_signed_bundles_settles_like_the_direct_auction(server, generated):
    searcher = Signer.random()
    expected_orders = []
    with Client(server.url, searcher) as client:
        slot = client.slot()["slot"] + 1
        for order in generated["orders"]:
            raws = order["raw_txs"]
            options = {"reverting_tx_hashes": order["revertingTxHashes"]} if order.get("revertingTxHashes") else {}
            bhash = client.send_bundle(raws, slot, **options)
            assert bhash == bundle_hash([decode_signed_tx(bytes.fromhex(r[2:]), "tx") for r in raws])
            expected_orders.append({**order, "id": bhash})
        report = client.wait_report(slot, timeout=90)
        scenario = parse_scenario({**generated, "orders": expected_orders, "builders": []})
        clear = ReportDocument.of(scenario.run_auction()).to_json()
        direct = amounts_as_text(clear)  # /v1 sends strings
        assert "error" not in report
        assert report["block"] and report["block"] == direct["block"]
        assert report["proposer"] == direct["proposer"]
        # As published: excluded orders (their signers' to read) are left out.
        assert report["searchers"] == amounts_as_text(public_report(clear))["searchers"]
        included = client.order(report["block"][0])
        assert included["status"] == "included" and int(included["payment"]) == int(
            direct["searchers"][report["block"][0]]["bid"]
        )
