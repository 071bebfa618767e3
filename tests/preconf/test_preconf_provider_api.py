"""mev-commit's provider decision API over real gRPC: a provider node (here a grpcio
server speaking providerapi.v1.Provider, as mev-commit's node does) streams verified bids
to mevauction's engine through ReceiveBids and gets each decision back through
SendProcessedBids, with the time it was decided as the dispatch timestamp."""

import threading
import time
from concurrent import futures

import grpc
import pytest
from preconf_fixtures import ALICE, CHAIN_ID, CONTRACT, PROVIDER, PROVIDER_NIKE

from mevauction.client import providerapi as api
from mevauction.client.provider_node import NodeDecider
from mevauction.preconf.deposits import DepositLedger
from mevauction.preconf.messages import Bid
from mevauction.preconf.params import AuctionParameters
from mevauction.preconf.policy import ReservePolicy
from mevauction.preconf.provider import ProviderEngine

pytestmark = pytest.mark.slow  # threads and a gRPC server; ~1 s


class FakeNode:
    """The node's side of the decision API: bids out, decisions in."""

    def __init__(self, bids):
        self.bids = bids
        self.responses: list = []
        self.done = threading.Event()
        self.sent_at: dict[bytes, int] = {}

    def receive_bids(self, request, context):
        for b in self.bids:
            self.sent_at[bytes(b.bid_digest)] = int(time.time() * 1000)
            yield b
        self.done.wait(10)

    def send_processed_bids(self, request_iterator, context):
        for r in request_iterator:
            self.responses.append(r)
            if len(self.responses) == len(self.bids):
                self.done.set()
        return api.EmptyMessage()

    def server(self) -> tuple[grpc.Server, int]:
        handlers = grpc.method_handlers_generic_handler("providerapi.v1.Provider", {
            "ReceiveBids": grpc.unary_stream_rpc_method_handler(
                self.receive_bids, request_deserializer=api.EmptyMessage.FromString,
                response_serializer=api.Bid.SerializeToString),
            "SendProcessedBids": grpc.stream_unary_rpc_method_handler(
                self.send_processed_bids, request_deserializer=api.BidResponse.FromString,
                response_serializer=api.EmptyMessage.SerializeToString)})
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((handlers,))
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        return server, port


@pytest.mark.parametrize("mode", ["continuous", "periodic"])
def test_engine_decides_behind_a_provider_node(mode):
    now = int(time.time() * 1000)
    block_at = now + 3000  # block 5 is due in 3 s; its first auction in 0.5 s, after every bid arrived
    params = AuctionParameters(PROVIDER.address, CHAIN_ID, CONTRACT, ((2500, 21_000 * 3), (200, 21_000 * 3)),
                               ReservePolicy("fixed", 10), 600, mode)
    ledger = DepositLedger()
    ledger.deposit(ALICE.address, PROVIDER.address, 10**18)
    engine = ProviderEngine(PROVIDER, PROVIDER_NIKE, params, ledger, lambda n: block_at + (n - 5) * 12_000,
                            history=False, reject_lead_ms=100)
    bids = []
    for i, per_gas in enumerate((50, 40, 5, 30)):  # the third is below the reserve
        b = Bid(f"{i:064x}", 21_000 * per_gas, 5, now, now + 60_000)
        msg = api.Bid(tx_hashes=[b.txn_hash], bid_amount=str(b.bid_amt), block_number=5,
                      bid_digest=b.digest(CHAIN_ID, CONTRACT), decay_start_timestamp=now,
                      decay_end_timestamp=now + 60_000, bidder_address=ALICE.address)
        # Top 100 % of the block: kept wherever the bundle sits (an empty constraint, anchor
        # and basis unspecified, is met by no block, so the engine refuses it: capacity.py).
        option = msg.bid_options.options.add().position_constraint
        option.anchor, option.basis, option.value = 1, 1, 100
        bids.append(msg)
    node = FakeNode(bids)
    server, port = node.server()
    decider = NodeDecider(f"127.0.0.1:{port}", engine)
    thread = threading.Thread(target=decider.run, daemon=True)
    thread.start()
    try:
        assert node.done.wait(10), f"only {len(node.responses)} decisions"
    finally:
        decider.stop()
        thread.join(5)
        server.stop(0)
    by = {bytes(r.bid_digest): r for r in node.responses}
    status = [by[bytes(b.bid_digest)].status for b in bids]
    assert status == [api.STATUS_ACCEPTED, api.STATUS_ACCEPTED, api.STATUS_REJECTED, api.STATUS_ACCEPTED]
    for b in bids:
        r = by[bytes(b.bid_digest)]
        sent = node.sent_at[bytes(b.bid_digest)]
        assert sent <= r.dispatch_timestamp <= int(time.time() * 1000)  # when decided, not a scheduled time
        if r.status == api.STATUS_REJECTED:
            assert r.dispatch_timestamp <= sent + 600 + 50  # by its reject deadline (tick granularity)


def test_decide_command_behind_a_provider_node(tmp_path):
    """The same through ``mevauction preconf decide`` as its own process."""
    import json
    import subprocess
    import sys

    from mevauction.eth.keccak import keccak
    from repo_paths import SRC
    now = int(time.time() * 1000)
    # Block 5 opens 10 s from now and takes commitments from 20 s before it: the decider may take
    # up to ≈ 10 s to start on a loaded machine and the bids are still on time.
    params = AuctionParameters(PROVIDER.address, CHAIN_ID, CONTRACT, ((20_000, 21_000 * 3), (200, 21_000 * 3)),
                               ReservePolicy("fixed", 10), 600, "continuous")
    (tmp_path / "params.json").write_text(json.dumps(params.to_json()))
    (tmp_path / "provider.key").write_text(keccak(b"bob").hex() + "\n")
    (tmp_path / "nike.key").write_text(f"{PROVIDER_NIKE:064x}\n")
    (tmp_path / "deposits.json").write_text(json.dumps({ALICE.address: str(10**18)}))
    bids = []
    for i, per_gas in enumerate((50, 5)):
        b = Bid(f"{i + 9:064x}", 21_000 * per_gas, 5, now, now + 60_000)
        bids.append(api.Bid(tx_hashes=[b.txn_hash], bid_amount=str(b.bid_amt), block_number=5,
                            bid_digest=b.digest(CHAIN_ID, CONTRACT), decay_start_timestamp=now,
                            decay_end_timestamp=now + 60_000, bidder_address=ALICE.address))
    node = FakeNode(bids)
    server, port = node.server()
    proc = subprocess.Popen([sys.executable, "-m", "mevauction", "preconf", "decide", "--node", f"127.0.0.1:{port}",
                             "--params", str(tmp_path / "params.json"), "--key-file", str(tmp_path / "provider.key"),
                             "--nike-key-file", str(tmp_path / "nike.key"), "--deposits",
                             str(tmp_path / "deposits.json"), "--anchor-block", "5", "--anchor-ms", str(now + 10_000)],
                            env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert node.done.wait(20), proc.stderr.read1().decode() if proc.poll() is not None else "no decisions"
    finally:
        proc.terminate()
        proc.wait(10)
        server.stop(0)
    assert [r.status for r in node.responses] == [api.STATUS_ACCEPTED, api.STATUS_REJECTED]
