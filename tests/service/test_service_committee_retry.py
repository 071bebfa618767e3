"""The auctioneer's committee rule (engine.Auctioneer._sealed_report): a dead committee or
a failed sealed auction gets one restart and one retry; a second failure is an error report,
never the clear auction."""

import asyncio
from types import SimpleNamespace

from mevauction.service.committee import CommitteeFailure
from mevauction.service.engine import Auctioneer
from mevauction.service.metrics import Metrics

REPORT = {"winner": "B1", "proposer": 5}
SEALED = {"B1": {"header": {}, "ciphertexts": []}}


class FakeCommittee:
    def __init__(self, alive: bool, restart_fails: bool = False):
        self.up, self.restarts, self.restart_fails = alive, 0, restart_fails

    def alive(self) -> bool:
        return self.up

    def sealed_slot(self, slot, bids, caps=None):  # one address stands for the slot run: which committee was used
        assert slot == 7 and bids == SEALED
        return ("127.0.0.1", 9000 + self.restarts)

    async def restart(self) -> None:
        self.restarts += 1
        if self.restart_fails:
            raise CommitteeFailure("restart failed: committee server 0 exited")
        self.up = True


def settle_with(committee: FakeCommittee, failures: int) -> tuple[dict, list]:
    """Run the rule with an auction that fails its first ``failures`` calls."""
    calls = []

    async def report(scenario, intake, programs=None):
        calls.append(intake)
        assert intake is not None  # never the clear auction
        if len(calls) <= failures:
            raise CommitteeFailure("sealed builder auction aborted: lost connection to server 1")
        return REPORT
    fake = SimpleNamespace(committee=committee, _report=report, metrics=Metrics())
    return asyncio.run(Auctioneer._sealed_report(fake, 7, {}, SEALED)), calls


def test_a_healthy_committee_runs_once():
    committee = FakeCommittee(alive=True)
    assert settle_with(committee, failures=0) == (REPORT, [("127.0.0.1", 9000)])
    assert committee.restarts == 0


def test_a_failed_auction_restarts_the_committee_and_retries_once():
    committee = FakeCommittee(alive=True)
    report, calls = settle_with(committee, failures=1)
    assert report == REPORT and committee.restarts == 1
    assert calls == [("127.0.0.1", 9000), ("127.0.0.1", 9001)]  # the retry went to the new committee


def test_a_dead_committee_is_restarted_before_the_auction():
    committee = FakeCommittee(alive=False)
    report, calls = settle_with(committee, failures=0)
    assert report == REPORT and committee.restarts == 1 and calls == [("127.0.0.1", 9001)]


def test_a_second_failure_is_an_error_report():
    for committee, failures in ((FakeCommittee(alive=True), 2), (FakeCommittee(alive=False), 1)):
        report, calls = settle_with(committee, failures)
        assert set(report) == {"error", "failed"} and "lost connection to server 1" in report["error"]
        assert committee.restarts == 1 and len(calls) == failures


def test_a_committee_that_cannot_restart_is_an_error_report():
    committee = FakeCommittee(alive=False, restart_fails=True)
    report, calls = settle_with(committee, failures=0)
    assert set(report) == {"error", "failed"} and "committee server 0 exited" in report["error"] and calls == []
