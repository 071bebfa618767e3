"""Preconf rate limits count the request's authenticated identity: retries of a bidder's
signed bid (by anyone) are answered from the record and spend nobody's quota, so a
replayer cannot starve the bidder; new bids count against their signer."""

import time

import pytest
from service_harness import ServerProcess
from test_service_preconf import CHAIN_ID, CONTRACT, FUNDED, RESERVE_PER_GAS, preconf_env

from mevauction.client import Client, RpcError
from mevauction.preconf.messages import Bid, SignedBid
from mevauction.preconf.nike import GENERATOR

pytestmark = pytest.mark.slow  # starts a service process


def bid(client: Client, n: int) -> dict:
    now = int(time.time() * 1000)
    b = Bid(f"{n:064x}", 21_000 * RESERVE_PER_GAS * 2, client.slot()["slot"] + 2, now, now + 60_000,
            bidder_pk_x=GENERATOR[0], bidder_pk_y=GENERATOR[1])
    return SignedBid.sign(b, FUNDED, CHAIN_ID, CONTRACT).to_json()


def test_replays_spend_no_quota_and_new_bids_count_against_their_signer(tmp_path):
    env = {**preconf_env(), "MEVAUCTION_RATE_PER_SIGNER": "0.01", "MEVAUCTION_BURST_PER_SIGNER": "3"}
    server = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=3.0, env=env).start()
    try:
        with Client(server.url) as client:
            doc = bid(client, 1)
            first = client.send_preconf_bid(doc)  # quota 3 -> 2
            for _ in range(20):  # anyone re-sending the bidder's signed bid: answered, no quota spent
                assert client.send_preconf_bid(doc) == first
            client.send_preconf_bid(bid(client, 2))  # 2 -> 1
            client.send_preconf_bid(bid(client, 3))  # 1 -> 0
            with pytest.raises(RpcError, match="rate limit"):
                client.send_preconf_bid(bid(client, 4))
    finally:
        server.stop()
