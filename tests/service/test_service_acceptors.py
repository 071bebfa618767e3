"""``mevauction serve --acceptors 2``: bundles verified by acceptor processes on the shared
port are stored by the auctioneer before they are acknowledged; other requests are relayed."""

import httpx
import pytest
from service_harness import ServerProcess

from mevauction.client import Client, RpcError, Signer, signed_transfer

pytestmark = pytest.mark.slow  # starts a service process and acceptors


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("acceptors") / "svc.db"
    proc = ServerProcess(f"sqlite:///{db}", slot_seconds=2.0, extra=["--acceptors", "2"]).start()
    yield proc
    proc.stop()


def test_bundles_through_acceptors_are_durable_rules_apply_and_reads_are_relayed(server):
    key = Signer.random()
    with Client(server.url, key) as client:
        slot = client.slot()["slot"] + 1
        hashes = [client.send_bundle([signed_transfer(key.private_key, n, "0x" + "11" * 20, tip=10**9)], slot)
                  for n in range(6)]
        # Replays and slot rules are the auctioneer's: the answers come back through the acceptor.
        assert client.send_bundle([signed_transfer(key.private_key, 0, "0x" + "11" * 20, tip=10**9)], slot) == hashes[0]
        with pytest.raises(RpcError) as err:
            client.send_bundle([signed_transfer(key.private_key, 9, "0x" + "11" * 20, tip=10**9)], slot - 5)
        assert err.value.code == -32602 and err.value.message.startswith("blockNumber:")
        with pytest.raises(RpcError) as err:
            client.call("eth_sendBundle", [{"txs": ["0x02zz"], "blockNumber": hex(slot)}])
        assert err.value.message.startswith("txs[0]:")
        client.send_order({"id": "t1", "reads": ["k"], "writes": ["k"], "bid": 7}, slot)  # relayed method
        # Signed reads are relayed too (and pending orders are their signer's alone).
        assert all(client.order_status(bundle_hash=h)["status"] == "pending" for h in hashes)
        report = client.wait_report(slot, timeout=30)
    assert set(report["block"]) == set(hashes) | {"t1"}
    assert httpx.get(server.url + "/metrics").text.count("mevauction_orders_acknowledged_total") >= 1
