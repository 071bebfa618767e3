"""Builder submissions (Fig. 3 step (3)): run each on M \\ S, check, and value it.

The mechanism only accepts a builder block that is a permutation of a subset of
M \\ S: it may not insert orders (no covert channel for exclusive flow), repeat one,
or use a conflict-free order (those are appended by the mechanism itself). A block
that breaks the rule is reported invalid and takes no part; the auction goes on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mevauction.building.gas import declared_gas
from mevauction.building.registry import make_builder
from mevauction.errors import InputError
from mevauction.sandbox.jail import Limits, Program
from mevauction.sandbox.protocol import Sealing
from mevauction.sandbox.runner import RunResult, run_algorithms
from mevauction.sandbox.warm import WarmJails
from mevauction.worlds.base import Block, World


@dataclass(frozen=True, slots=True)
class BuilderSubmission:
    """A builder's entry: a built-in algorithm by name, an explicit block, or a
    submitted program (run sandboxed, :mod:`mevauction.sandbox`); and a bid.

    ``bid`` is an amount in wei, or ``None`` for ``"truthful"`` (the block's value).
    A program returns its own bid; ``deposit`` is what the builder can pay beyond
    its block's value, so a program's bid above value + deposit is refused.
    """

    id: str
    algorithm: str | None
    block: tuple[str, ...] | None
    bid: int | None
    program: Program | None = None
    deposit: int = 0


@dataclass(slots=True)
class Candidate:
    """A builder's candidate block B_j with its bid β_j, or why it was rejected."""

    id: str
    valid: bool
    block: Block
    bid: int
    reason: str | None = None
    # A submitted program's run (time, requests, its stderr for the operator); not reported.
    run: RunResult | None = None


def permutation_violation(world: World, block: Sequence[str], allowed: Collection[str],
                          conflict_free: Collection[str]) -> str | None:
    """Why ``block`` is not a permutation of a subset of M \\ S, or None if it is."""
    seen: set[str] = set()
    txs: set[str] = set()
    for oid in block:
        if oid in seen:
            return f"repeats order {oid!r}"
        seen.add(oid)
        if oid in conflict_free:
            return f"includes conflict-free order {oid!r}"
        if oid not in allowed:
            return f"names unknown order {oid!r}"
        for tx in world.orders[oid].txs:
            if tx in txs:
                return f"includes transaction {tx} twice (order {oid!r})"
            txs.add(tx)
    return None


def run_programs(world: World, subs: Sequence[BuilderSubmission], allowed: Sequence[str],
                 limits: Limits | None = None, sealing: Mapping[str, Sealing] | None = None,
                 warm: WarmJails | None = None) -> dict[str, RunResult]:
    """Run every submitted program of the slot in parallel on M \\ S, within the budget
    (``sealing``: a sealed slot's, per program; ``warm``: its jails started ahead)."""
    programs = [(s.id, s.program) for s in subs if s.program is not None]
    # Each block is valued as it arrives, while the others still run: the auction does
    # not wait for eight evaluations after the budget (run_submission reuses them).
    return run_algorithms(world, programs, allowed, limits, sealing, world.evaluate, warm) if programs else {}


def run_submission(world: World, sub: BuilderSubmission, allowed: Sequence[str],
                   conflict_free: Collection[str], k_cutoff: int, seed: int,
                   default_block: Block | None = None, gas_budget: int | None = None,
                   run: RunResult | None = None) -> Candidate:
    """Produce, check and value one builder's block (failed orders pay nothing).

    A builder running the ``default`` algorithm gets o*, which the mechanism has
    already computed on the same orders with the same k_cutoff, seed and gas budget.
    Built-in algorithms are given ``gas_budget`` (the slot's limit less the kept
    conflict-free orders); a block whose included orders declare more is invalid.
    A submitted program's block and bid come from its sandboxed ``run``.
    """
    bid_of: int | None = sub.bid
    if sub.program is not None:
        if run is None or run.submission is None:
            failure = run.reason if run is not None and run.reason else "algorithm did not run"
            return Candidate(sub.id, False, Block(), 0, failure, run)
        sequence: Sequence[str] = run.submission.sequence
        # Sealed: a placeholder 0 (the committee has the amount and checks the deposit cap).
        bid_of = 0 if run.submission.sealed is not None else run.submission.bid
    elif sub.algorithm == "default" and default_block is not None:
        sequence = default_block.orders
    elif sub.algorithm is not None:
        options: dict[str, int] = {"k_cutoff": k_cutoff, "seed": seed}
        if gas_budget is not None:
            options["block_gas_limit"] = gas_budget
        try:
            builder = make_builder(sub.algorithm, **options)
        except InputError as exc:
            return Candidate(sub.id, False, Block(), 0, exc.message)
        sequence = builder.build(world, list(allowed)).orders
    else:
        sequence = sub.block or ()
    allowed_set = set(allowed)
    reason = permutation_violation(world, sequence, allowed_set, set(conflict_free))
    if reason:
        return Candidate(sub.id, False, Block(tuple(sequence), {}), 0, reason, run)
    # The runner valued a submitted sequence on this same world as soon as it arrived.
    early = run.evaluated if run is not None else None
    block = early if isinstance(early, Block) else world.evaluate(sequence)
    if gas_budget is not None:
        used = declared_gas(world, block.orders)
        if used > gas_budget:
            return Candidate(sub.id, False, block, 0,
                             f"block uses {used} gas, more than the {gas_budget} left for M \\ S", run)
    bid = block.value if bid_of is None else bid_of
    if sub.program is not None and bid > block.value + sub.deposit:
        return Candidate(sub.id, False, block, 0,
                         f"bid {bid} exceeds the block's value {block.value} plus deposit {sub.deposit}", run)
    return Candidate(sub.id, True, block, bid, None, run)
