"""The market simulation shows the deferring problem and both remedies (small run)."""

import json

import pytest

from mevauction.cli import main
from mevauction.preconf.market import MarketConfig, simulate


def test_deferring_problem_and_remedies():
    runs = {(p, d): simulate(MarketConfig(slots=30, bidders=12, policy=p, decay=d, seed=3), progress=False)["summary"]
            for p, d in [("deferring", False), ("deferring", True), ("greedy", False)]}
    stuck, decay, committed = runs[("deferring", False)], runs[("deferring", True)], runs[("greedy", False)]
    assert stuck["earlyAccepts"] == 0
    assert decay["earlyAcceptShare"] > 0.3 and committed["earlyAcceptShare"] > 0.3
    assert int(committed["premiumOverSpotWeiPerSlot"]) > int(stuck["premiumOverSpotWeiPerSlot"])
    assert committed["preconfBids"] > stuck["preconfBids"]


@pytest.mark.slow  # > 1 s CPU (simulation and plots)
def test_simulate_command_writes_json_and_plots(tmp_path, capsys):
    out = tmp_path / "sim.json"
    code = main(["preconf", "simulate", "--slots", "5", "--bidders", "5", "--policy", "dynamic-reserve",
                 "--decay", "off", "--seed", "2", "--json", str(out), "--plots", str(tmp_path / "plots")])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["format"] == "mevauction.preconf.simulation/1" and len(report["slots"]) == 5
    assert report["auctionParameters"]["reserve"]["policy"] == "lift-lining"
    assert (tmp_path / "plots" / "early_accept_share.png").stat().st_size > 1000


@pytest.mark.slow  # > 1 s CPU
def test_values_follow_the_stated_process_and_capacity_binds():
    """Issue 14: value_volatility was never used and the knapsack never bound."""
    calm = simulate(MarketConfig(slots=8, value_volatility=0.0, seed=5), progress=False)["summary"]
    wild = simulate(MarketConfig(slots=8, value_volatility=1.5, seed=5), progress=False)["summary"]
    assert calm["preconfBids"] != wild["preconfBids"]
    assert calm["capacityBoundRoundShare"] > 0.3  # the default market is capacity-bound


def test_spread_over_seeds():
    from mevauction.preconf.market import spread
    runs = [simulate(MarketConfig(slots=3, bidders=8, policy="deferring", decay=True, seed=s), progress=False)
            for s in (1, 2, 3)]
    sp = spread(runs)["preconfBids"]
    assert sp["n"] == 3 and sp["min"] <= sp["mean"] <= sp["max"] and sp["sd"] >= 0
