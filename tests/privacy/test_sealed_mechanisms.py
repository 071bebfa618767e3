"""Every mechanism in a real 3-process committee equals its plaintext twin on random inputs."""

import asyncio
import random

import pytest
from sealed_helpers import labels, run

from mevauction.privacy import mechanisms as clear
from mevauction.privacy.client import Coordinator, LocalCommittee, SealedBid

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def committee():
    with LocalCommittee(3) as c:
        yield c


def random_bids(rng: random.Random, n: int) -> list[int]:
    """Random 64-bit bids with deliberate ties and the range's edges."""
    pool = [0, 1, (1 << 64) - 1, rng.randrange(1 << 64)]
    return [rng.choice(pool) if rng.random() < 0.3 else rng.randrange(1 << rng.choice([8, 40, 64]))
            for _ in range(n)]


def named(outcome: clear.Outcome, names: list[str], double: bool = False) -> dict:
    out = {"winner": None if outcome.winner is None else names[outcome.winner], "price": outcome.price,
           "winners": [names[i] for i in outcome.winners]}
    if double:  # each trader's quantity at the clearing price, as a decimal string
        out["quantities"] = {names[i]: str(q) for i, q in outcome.quantities.items()}
    return out


def as_sorted(o: dict) -> dict:
    return {**o, "winners": sorted(o["winners"])}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_and_second_price(committee, seed):
    rng = random.Random(seed)
    values = random_bids(rng, rng.choice([1, 2, 7, 33]))
    names = labels(len(values))
    bids = [SealedBid(n, [v]) for n, v in zip(names, values, strict=True)]
    for mechanism, twin in (("first", clear.clear_first), ("second", clear.clear_second)):
        result = run(committee, mechanism, bids)
        assert result.ok, result.reason
        assert result.outcome == named(twin(values), names), mechanism


@pytest.mark.parametrize("seed", [4, 5])
def test_builder_auction_with_secret_reserve(committee, seed):
    rng = random.Random(seed)
    values = random_bids(rng, 9)
    names = labels(len(values))
    top = max(values)
    for reserve in (0, top, max(0, top - 1), rng.randrange(1 << 64)):
        bids = [SealedBid("reserve", [reserve], side="reserve"),
                *(SealedBid(n, [v]) for n, v in zip(names, values, strict=True))]
        result = run(committee, "builder", bids)
        assert result.ok, result.reason
        assert result.outcome == named(clear.clear_builder(reserve, values), names), reserve


@pytest.mark.parametrize("seed,k", [(6, 1), (7, 3), (8, 12)])
def test_topk_uniform_price(committee, seed, k):
    rng = random.Random(seed)
    values = random_bids(rng, 10)
    names = labels(len(values))
    result = run(committee, "topk", [SealedBid(n, [v]) for n, v in zip(names, values, strict=True)], k=k)
    assert result.ok, result.reason
    assert as_sorted(result.outcome) == as_sorted(named(clear.clear_topk(values, k), names))


@pytest.mark.parametrize("seed", [9, 10, 11])
def test_double_auction_clearing_price(committee, seed):
    rng = random.Random(seed)
    grid = sorted(rng.sample(range(1, 1000), 6))
    sides = [rng.choice(["buy", "sell"]) for _ in range(8)]
    increments = [[rng.choice([0, 0, rng.randrange(1, 1 << 20)]) for _ in grid] for _ in sides]
    names = labels(len(sides))
    bids = [SealedBid(n, inc, side=s) for n, s, inc in zip(names, sides, increments, strict=True)]
    result = run(committee, "double", bids, grid=grid)
    assert result.ok, result.reason
    expected = named(clear.clear_double(grid, sides, increments), names, double=True)
    assert as_sorted(result.outcome) == as_sorted(expected)
    assert result.openings == []  # no trader's curve is published


def test_running_maximum_stream(committee):
    rng = random.Random(12)
    values = random_bids(rng, 12)
    names = [f"builder{i % 4}" for i in range(len(values))]  # builders bid repeatedly
    result = run(committee, "stream", [SealedBid(n, [v]) for n, v in zip(names, values, strict=True)])
    assert result.ok, result.reason
    w = clear.clear_first(values).winner
    assert result.outcome == {"winner": names[w], "price": values[w], "winners": [names[w]]}
    assert len(result.statements[0]["timing"]["update_latency_s"]) == len(values)


def test_tls_between_servers():
    async def info(access):
        async with Coordinator(access) as co:
            return await co.info()

    with LocalCommittee(3, tls=True) as c:
        assert all(i["tls"] and i["tls_peers"] for i in asyncio.run(info(c.access())))
        result = run(c, "second", [SealedBid("a", [5]), SealedBid("b", [9]), SealedBid("c", [7])])
        assert result.outcome == {"winner": "b", "price": 7, "winners": ["b"]}


@pytest.mark.parametrize("values,k", [
    ([(1 << 64) - 1, 0, 5], 1),
    ([(1 << 64) - 1, (1 << 64) - 1, 0, 3], 1),
    ([0, (1 << 64) - 1, (1 << 64) - 2, 0], 2),
    ([(1 << 64) - 1] * 4, 2),
])
def test_topk_at_the_top_of_the_range(committee, values, k):
    """Bids at 2^64 − 1 next to removed bidders and zero bids (the +1 shift's edge)."""
    names = labels(len(values))
    result = run(committee, "topk", [SealedBid(n, [v]) for n, v in zip(names, values, strict=True)], k=k)
    assert result.ok, result.reason
    assert as_sorted(result.outcome) == as_sorted(named(clear.clear_topk(values, k), names))


def test_topk_random_edges(committee):
    rng = random.Random(11)
    edges = [0, 1, (1 << 64) - 2, (1 << 64) - 1]
    for _ in range(12):
        values = [rng.choice(edges) for _ in range(rng.randint(2, 6))]
        k = rng.randint(1, len(values) - 1)
        names = labels(len(values))
        result = run(committee, "topk", [SealedBid(n, [v]) for n, v in zip(names, values, strict=True)], k=k)
        assert result.ok, result.reason
        assert as_sorted(result.outcome) == as_sorted(named(clear.clear_topk(values, k), names)), (values, k)
