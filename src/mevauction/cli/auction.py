"""``mevauction auction SCENARIO.json`` — run the Boost+ mechanism on one slot."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from mevauction.building.default import K_CUTOFF
from mevauction.cli.output import fmt_wei, write_json
from mevauction.errors import InputError
from mevauction.intake.scenario import load_scenario
from mevauction.settlement.report import ReportDocument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("auction", help="run the Boost+ mechanism on a scenario file",
                       description="Run the Boost+ mechanism (Boost+ paper Fig. 3) on one slot's scenario.")
    p.add_argument("scenario", help="scenario file (mevauction.scenario/1), - for stdin")
    p.add_argument("--k-cutoff", type=int, default=K_CUTOFF, help="exhaustive search below this group size (default 8)")
    p.add_argument("--json", metavar="OUT", help="write the report (mevauction.report/1) to OUT, - for stdout")
    p.add_argument("--sealed", action="store_true", help="run the builders' auction in the MPC committee")
    p.add_argument("--parties", type=int, default=3, help="committee size with --sealed (default 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.k_cutoff < 2:
        raise InputError("--k-cutoff", "must be at least 2")
    scenario = load_scenario(args.scenario)
    builder_auction = None
    if args.sealed:
        from functools import partial

        from mevauction.privacy.builder_auction import sealed_builder_auction

        builder_auction = partial(sealed_builder_auction, parties=args.parties)

    report = ReportDocument.of(scenario.run_auction(k_cutoff=args.k_cutoff, builder_auction=builder_auction))
    if args.json:
        write_json(report.to_json(), args.json)
    if args.json != "-":
        print_report(report)
    return 0


def print_report(report: ReportDocument, console: Console | None = None) -> None:
    console = console or Console()
    blk = Table(title=f"Final block — winner: {report.winner} (case {report.case})")
    for col in ("#", "order", "pays", "refund", "net"):
        blk.add_column(col, justify="right" if col != "order" else "left")
    for pos, oid in enumerate(report.block):
        s = report.searchers[oid]
        blk.add_row(str(pos), oid + (" (S)" if oid in report.conflict_free else ""),
                    fmt_wei(s.bid), fmt_wei(s.refund), fmt_wei(s.bid - s.refund))
    console.print(blk)
    left_out = [i for i, s in report.searchers.items() if i not in report.block and s.refund]
    if left_out:
        console.print(f"refunds owed to orders left out of the winning block: {', '.join(left_out)}")
    if report.builders:
        bt = Table(title="Builders")
        for col in ("builder", "valid", "bid", "block value", "paid", "refund"):
            bt.add_column(col)
        for c in report.builders:
            st = report.builder_settlement[c.id]
            bt.add_row(c.id, "yes" if c.valid else f"no: {c.reason}", fmt_wei(c.bid), fmt_wei(c.value),
                       fmt_wei(st.paid), fmt_wei(st.refund))
        console.print(bt)
    console.print(f"default block value β0 = {fmt_wei(report.beta0)}; price = {fmt_wei(report.price)}; "
                  f"conflict groups ≥ 2: {len(report.groups)}; conflict-free: {len(report.conflict_free)}")
    console.print(f"[bold]proposer revenue: {fmt_wei(report.proposer)}[/bold]")
