"""An order whose payment depends on a read made inside a reverted inner call.

revm drops the journal entries of a reverted call frame, so the read set taken from
the journal (worlds/evm/access.py) misses what such a frame read. The attacker's
order calls a probe that reads a flag and reverts while it is unset; the order
catches the revert and then pays the fee recipient everything it holds. Alone at the
top of the block it pays; after another order sets the flag it pays nothing. With
the flag's read hidden, both orders look conflict-free: the mechanism would put both
in S, value the attacker's order alone, and report (and refund) a payment the
delivered block does not make. docs/mechanism.md "Departures" (g) is the rule that
closes it; on the code before it the catcher was reported paying (and refunded) 0.1
ETH while the block paid its tip only.
"""

from conftest import ETHER, GWEI, scenario, signed, user_key
from mevauction.intake.workloads.evm import generate
from mevauction.mechanism.boost import AuctionInput, run_auction
from mevauction.mechanism.builders import BuilderSubmission
from mevauction.worlds import build_world

PROBE = "0x" + "80" * 20
CATCHER = "0x" + "81" * 20
# With calldata: set slot 0 to 1. Without: revert unless slot 0 is set.
# CALLDATASIZE PUSH1 16 JUMPI  PUSH1 0 SLOAD PUSH1 14 JUMPI  PUSH1 0 DUP1 REVERT
# JUMPDEST STOP  JUMPDEST PUSH1 1 PUSH1 0 SSTORE STOP
PROBE_CODE = "0x36601057600054600e57600080fd5b005b600160005500"
# CALL(GAS, PROBE, 0, 0, 0, 0, 0); on failure CALL(GAS, COINBASE, SELFBALANCE, 0, 0, 0, 0).
CATCHER_CODE = "0x60008080808073" + "80" * 20 + "5af1602a57600080808047415af1505b00"
PRIZE = ETHER // 10


def hidden_read_slot(genesis) -> dict:
    doc = scenario(genesis, [])
    state = doc["world"]["state"]
    state[PROBE] = {"balance": "0x0", "nonce": 1, "code": PROBE_CODE}
    state[CATCHER] = {"balance": hex(PRIZE), "nonce": 1, "code": CATCHER_CODE}
    doc["orders"] = [
        {"id": "set-flag", "raw_txs": [signed(user_key(0), PROBE, data=b"\x01", gas=60_000, tip=GWEI)]},
        {"id": "catch", "raw_txs": [signed(user_key(1), CATCHER, gas=120_000, tip=GWEI)]},
    ]
    return doc


def test_the_probe_pays_only_at_the_top(genesis):
    world = build_world(hidden_read_slot(genesis))
    alone = world.evaluate(["catch"])
    after = world.evaluate(["set-flag", "catch"])
    assert alone.bids["catch"] > PRIZE > after.bids["catch"]  # the flag decides the payment


def test_the_report_pays_what_the_delivered_block_pays(genesis):
    world = build_world(hidden_read_slot(genesis))
    report = run_auction(AuctionInput(world))
    assert_paid_as_executed(world, report)
    assert report.excluded["catch"].startswith("hidden-reads")
    assert "set-flag" in report.block and report.searchers["set-flag"].bid > 0


def test_a_winning_builder_block_is_paid_as_executed_too(genesis):
    """Flag setters that tip nothing: o* leaves them out, so o* ∪ S checks out; the
    builder's block sets the flag, and S after it must be paid as executed."""
    doc = hidden_read_slot(genesis)
    doc["orders"][0]["raw_txs"] = [signed(user_key(0), PROBE, data=b"\x01", gas=60_000, tip=0)]
    doc["orders"].append({"id": "set-flag-2",  # conflicts with the first: M \\ S is not empty
                          "raw_txs": [signed(user_key(2), PROBE, data=b"\x02", gas=60_000, tip=0)]})
    world = build_world(doc)
    builder = BuilderSubmission("b1", None, ("set-flag-2", "set-flag"), ETHER // 1000)
    report = run_auction(AuctionInput(world, [builder]))
    assert report.winner == "b1" and "catch" in report.conflict_free
    assert_paid_as_executed(world, report)
    assert report.builder_settlement["b1"].paid == ETHER // 1000 + report.searchers["catch"].bid


def test_generated_slots_lose_no_order_to_the_check():
    doc = generate(60, seed=5)
    world = build_world(doc)
    report = run_auction(AuctionInput(world))
    assert not report.excluded
    assert_paid_as_executed(world, report)


def assert_paid_as_executed(world, report) -> None:
    executed = world.evaluate(report.block)
    for oid, settled in report.searchers.items():
        paid = executed.bids.get(oid, 0) if oid in executed.orders else 0
        assert settled.bid == paid, (oid, settled, paid)
        assert settled.refund <= paid, (oid, settled, paid)
