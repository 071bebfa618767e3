"""A bidder who withholds its own transaction must not collect a slash (issue 14).

A hash-only bid (``txHashes`` without ``rawTransactions``) names transactions the
provider may never get: committed, and the bidder never broadcasts, the oracle's rule
slashes the provider — bid amount + slash amount + penalty to the very bidder who kept
the transaction back (``test_service_preconf_nochain.py``: the ``never`` bid, committed
and slashed, is that attack on the default ``preconf_hash_only = "any"``). With
``preconf_hash_only = "held"`` the provider commits a hash-only bid only when every
named transaction already reached the service; otherwise it signs an
``unknown-transaction`` reject and holds no escrow. On the code before the setting both
bids below were committed and the withheld one slashed.
"""

import pytest
from service_harness import ServerProcess
from test_service_preconf import DEPOSIT, FUNDED, RESERVE_PER_GAS, preconf_env
from test_service_preconf_nochain import SENDER, bid_for, open_block, settled

from mevauction.client import Client
from mevauction.client.sdk import signed_transfer
from mevauction.eth import transactions
from mevauction.eth.keccak import keccak as keccak256
from mevauction.preconf.evidence import REASONS

pytestmark = pytest.mark.slow  # starts a service process


def test_a_withheld_transaction_is_refused_and_a_broadcast_one_committed(tmp_path):
    env = {**preconf_env(), "MEVAUCTION_PRECONF_HASH_ONLY": "held"}
    srv = ServerProcess(f"sqlite:///{tmp_path / 'svc.db'}", slot_seconds=1.5, env=env,
                        log=tmp_path / "svc.log").start()
    amount = 21_000 * RESERVE_PER_GAS * 2
    try:
        with Client(srv.url) as c:
            block = open_block(c)
            withheld = signed_transfer(keccak256(b"withholding bidder"), 0, "0x" + "61" * 20, tip=1)  # never sent
            refused = c.send_preconf_bid(bid_for(block, transactions.decode(bytes.fromhex(withheld[2:])).hash,
                                                 amount))
            assert refused["status"] == "rejected", refused
            assert refused["messages"][0]["reason"] == "unknown-transaction" in REASONS
            assert c.call("preconf_getDeposit", [FUNDED.address])["escrowed"] == "0"
            sent = signed_transfer(SENDER, 0, "0x" + "62" * 20, tip=1)
            c.call("eth_sendRawTransaction", [sent])
            kept = c.send_preconf_bid(bid_for(block, transactions.decode(bytes.fromhex(sent[2:])).hash, amount))
            assert kept["status"] == "committed", kept
            report = settled(c, block)
            assert report is not None and report["balanced"] is True
            outcomes = [o["outcome"] for o in report["commitments"]]
            assert outcomes == ["reward"], outcomes  # only the broadcast one was ever committed
            assert int(c.call("preconf_getDeposit", [FUNDED.address])["available"]) < DEPOSIT
    finally:
        srv.stop()
