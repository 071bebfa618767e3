"""A bidder who withholds its own transaction must not collect a slash (issue 14).

A hash-only bid (``txHashes`` without ``rawTransactions``) names transactions the
provider may never get: committed, and the bidder never broadcasts, the oracle's rule
slashes the provider — bid amount + slash amount + penalty to the very bidder who kept
the transaction back (``test_service_preconf_nochain.py``: the ``never`` bid, committed
and slashed, is that attack under the opt-in ``preconf_hash_only = "any"``). On the
default ``held`` the provider commits a hash-only bid only when every named transaction
already reached the service; otherwise it signs an ``unknown-transaction`` reject and
holds no escrow. A bidder that sends its transaction first (``eth_sendRawTransaction``)
or with the bid (``rawTransactions``) is committed and the provider paid. On the code
before the setting the withheld bid was committed and slashed; with the default still
``any`` this test (which sets nothing) fails the same way.
"""

import pytest
from service_harness import ServerProcess
from test_service_preconf import DEPOSIT, FUNDED, RESERVE_PER_GAS, preconf_env
from test_service_preconf_nochain import SENDER, bid_for, open_block, positioned, settled

from mevauction.client import Client
from mevauction.client.sdk import signed_transfer
from mevauction.eth import transactions
from mevauction.eth.keccak import keccak as keccak256
from mevauction.preconf.evidence import REASONS

pytestmark = pytest.mark.slow  # starts a service process


def test_a_withheld_transaction_is_refused_and_a_broadcast_one_committed(tmp_path):
    env = {k: v for k, v in preconf_env().items() if k != "MEVAUCTION_PRECONF_HASH_ONLY"}  # the default
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
            carried = c.send_preconf_bid(positioned(block, keccak256(b"raw-carrying bidder"), "0x" + "63" * 20,
                                                    amount, None))
            assert carried["status"] == "committed", carried
            report = settled(c, block)
            assert report is not None and report["balanced"] is True
            outcomes = [o["outcome"] for o in report["commitments"]]
            assert outcomes == ["reward", "reward"], outcomes  # the withheld one was never committed
            assert int(c.call("preconf_getDeposit", [FUNDED.address])["available"]) < DEPOSIT
    finally:
        srv.stop()
