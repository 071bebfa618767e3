"""A malicious committee server (issue 16 § 1), as a real process among two honest ones.

Server 2 runs ``malicious_server.py``: the real ``committee serve`` with one deviation
patched in. Before authenticated shares, the additive attack shifted the price and every
server signed it; a forged share in the outcome's opening made the honest servers sign
different outcomes. Now each run aborts at the honest servers, nothing is output, and
the coordinator's result says why.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("mpyc")

from sealed_helpers import run

from mevauction.privacy.client import LocalCommittee, SealedBid

pytestmark = pytest.mark.slow  # live three-server committees

HERE = Path(__file__).resolve().parent
BAD = 2


class CommitteeWithCheat(LocalCommittee):
    def __init__(self, attack: str, **kw):
        super().__init__(3, timeout=20.0, **kw)
        self.attack = attack

    def command(self, i: int) -> list[str]:
        cmd = super().command(i)
        if i != BAD:
            return cmd
        assert cmd[1:3] == ["-m", "mevauction"]
        return [sys.executable, str(HERE / "malicious_server.py"), self.attack, *cmd[3:]]


def honest_statements(result) -> list[dict]:
    return [s for s in result.statements if isinstance(s, dict) and s.get("server") != BAD]


def assert_aborted(result, reason: str) -> None:
    assert not result.ok, result.outcome
    assert result.outcome is None
    honest = honest_statements(result)
    assert honest, result.reason
    for s in honest:
        assert s["status"] == "aborted", s
        assert "outcome" not in s
        assert reason in s["reason"], s["reason"]


@pytest.mark.parametrize("attack, reason", [
    ("shift", "MAC check failed"),
    ("forge-open", "not its own"),
    ("shift-pre", "MAC check failed on the preprocessed material"),
    ("forge-pre", "not its own"),
    ("equivocate", "different values to different peers"),
    ("equivocate-order", "different values to different peers"),
    ("root-pre", "wrong inverse square root"),
    ("root-sign", "different values to different peers"),
])
def test_a_cheating_server_is_caught_and_nothing_is_output(attack, reason):
    bids = [SealedBid("alice", [30]), SealedBid("bob", [90]), SealedBid("carol", [60])]
    with CommitteeWithCheat(attack) as committee:
        result = run(committee, "second", bids)
    assert_aborted(result, reason)



def test_a_server_that_signs_a_wrong_check_value_is_named_by_the_bidder_side():
    """It tries to have the winner excluded as "inconsistent": its signed receipt shows
    other check values than the bid's shares give, so no outcome counts."""
    bids = [SealedBid("alice", [30]), SealedBid("victim", [90])]
    with CommitteeWithCheat("censor") as committee:
        result = run(committee, "second", bids)
    assert not result.ok
    assert f"server {BAD} signed check values for victim's bid" in result.reason, result.reason


def test_a_server_that_changes_a_receipted_check_value_is_named_by_the_others():
    bids = [SealedBid("alice", [30]), SealedBid("victim", [90])]
    with CommitteeWithCheat("censor-agree") as committee:
        result = run(committee, "second", bids)
    assert_aborted(result, f"server {BAD} cheated: it published check values")
