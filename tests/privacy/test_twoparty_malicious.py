"""One malicious party of the two-party backend (issue 16 § 2), as a real process.

One party runs ``malicious_party.py``: the real party with one deviation patched in. On
the semi-honest backend every one of these went through (a relabelled circuit published
the runner-up as winner or a lowered price; another input in one place changed the winner)
or was caught with no culprit named. With dual execution the run aborts, no outcome comes
back, and the honest party names the cheater.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mevauction.privacy.twoparty import party
from mevauction.privacy.twoparty.local import LocalPair

pytestmark = pytest.mark.slow  # live pairs of processes

HERE = Path(__file__).resolve().parent
BIDS = [30, 90, 60]  # honest second price: winner 1, price 60


class PairWithCheat(LocalPair):
    def __init__(self, attack: str, cheater: int) -> None:
        super().__init__(timeout=20.0)
        self.attack, self.cheater = attack, cheater

    def command(self, role: int) -> list[str]:
        cmd = super().command(role)
        if role != self.cheater:
            return cmd
        assert cmd[1:3] == ["-m", "mevauction.privacy.twoparty.party"]
        return [sys.executable, str(HERE / "malicious_party.py"), self.attack, *cmd[3:]]


def assert_caught(r, cheater: int) -> None:
    """Aborted, nothing output, and the honest party's reason names the cheater."""
    assert not r.ok, (r.winner, r.price)
    assert (r.winner, r.price, r.winners) == (None, None, [])
    honest = re.findall(rf"\b{party.NAMES[1 - cheater]}: [^;]*", r.reason)
    assert any(f"the {party.NAMES[cheater]}" in part for part in honest), r.reason


@pytest.mark.parametrize("attack", ["second-as-winner", "price-minus"])
@pytest.mark.parametrize("cheater", [party.GARBLER, party.EVALUATOR])
def test_a_party_garbling_another_function_is_caught(attack, cheater):
    with PairWithCheat(attack, cheater) as pair:
        assert_caught(pair.run("second", BIDS), cheater)


@pytest.mark.parametrize("attack", ["lie-to-auctioneer", "lie-to-peer"])
def test_an_evaluator_reporting_a_wrong_output_is_caught(attack):
    with PairWithCheat(attack, party.EVALUATOR) as pair:
        assert_caught(pair.run("second", BIDS), party.EVALUATOR)


@pytest.mark.parametrize("cheater", [party.GARBLER, party.EVALUATOR])
def test_a_party_substituting_a_share_in_both_executions_is_caught(cheater):
    """The top bit of bidder 0's share flipped alike in both executions: dual execution alone
    let bidder 0 win at price 90 (both executions agree); the bidder-dealt MACs over the
    sketch catch it — the cheater's authenticated sketch is not the circuits'."""
    with PairWithCheat("substitute", cheater) as pair:
        r = pair.run("second", BIDS)
        assert_caught(r, cheater)
        assert "fed other shares than the bidders dealt it" in r.reason


@pytest.mark.parametrize("cheater", [party.GARBLER, party.EVALUATOR])
def test_a_party_forging_its_sketch_tags_is_caught(cheater):
    """The same substitution, with claims that add up to the circuits' sketch and tags
    shifted by a guessed α: the MAC check at the honest party fails."""
    with PairWithCheat("forge-tag", cheater) as pair:
        r = pair.run("second", BIDS)
        assert_caught(r, cheater)
        assert "fail the MACs the bidders dealt" in r.reason


def test_a_party_using_other_inputs_in_the_two_executions_is_caught():
    with PairWithCheat("other-input", party.EVALUATOR) as pair:
        assert_caught(pair.run("second", BIDS), party.EVALUATOR)
