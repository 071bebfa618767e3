"""Submitted algorithms behind ``mevauction serve --acceptors 2`` (issue 13 with issue 11's
intake): a submission arrives on the shared port, an acceptor process relays it, and the
auctioneer checks the builder's signature over the very body it was sent — so a relay that
swaps the body is refused — stores it durably, and runs it from the next slot like any other."""

from __future__ import annotations

import httpx
import pytest
from service_harness import ServerProcess
from test_attack_algorithms import OUTBID, entry, fresh_slot, paper_orders, send_orders

from mevauction.client import Client, Signer

pytestmark = pytest.mark.slow  # starts a service process and acceptors

CAROL = Signer.random()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("algorithms-acceptors") / "svc.db"
    proc = ServerProcess(f"sqlite:///{db}", slot_seconds=1.5,
                         extra=["--acceptors", "2", "--builder", f"{CAROL.address}={10**18}"]).start()
    yield proc
    proc.stop()


def test_an_algorithm_sent_through_the_acceptors_runs_from_the_next_slot(server):
    with Client(server.url, CAROL) as carol:
        # The signature over one body, sent with another, is refused whichever process reads it.
        _, headers = carol._request("mev_submitAlgorithm", carol.algorithm_params("python", OUTBID, 1))
        body, _ = carol._request("mev_submitAlgorithm", carol.algorithm_params("python", OUTBID, 2))
        reply = httpx.post(server.url, content=body, headers=headers).json()
        assert "error" in reply and "signature" in reply["error"]["message"].lower(), reply
        slot = fresh_slot(carol)
        send_orders(server.url, slot + 1, paper_orders("acc-"))
        ack = carol.submit_algorithm("python", OUTBID, 1)
        assert int(ack["fromSlot"], 16) == slot + 1
        assert carol.call("mev_getAlgorithm", [{}])["version"] == 1
        report = carol.wait_report(slot + 1, timeout=30)
    ran = entry(report, CAROL)
    assert ran is not None and ran["valid"], report
    assert report["block"] == ["acc-2", "acc-1"] and report["winner"].lower() == CAROL.address.lower(), report
