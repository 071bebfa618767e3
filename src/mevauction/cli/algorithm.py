"""``mevauction algorithm new|check`` — for solo builders writing a block-building script.

``new`` writes the template (protocol mevauction.algorithm/1, docs/algorithms.md);
``check FILE`` runs the script exactly as the auction would — jailed, within the
budget, on a generated slot's M \\ S — and shows its block against the default
algorithm's, the time it took and what it used.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mevauction.cli.output import fmt_wei
from mevauction.errors import InputError
from mevauction.intake import workloads
from mevauction.intake.scenario import parse_scenario, read_program
from mevauction.mechanism.builders import BuilderSubmission
from mevauction.sandbox.jail import Limits, guest_file
from mevauction.worlds import WORLD_MODULES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("algorithm", help="write and check a submitted builder algorithm",
                       description="Builder algorithms run by the auction in a sandbox (docs/algorithms.md).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="write the template algorithm")
    new.add_argument("-o", "--output", default="my_algorithm.py", metavar="FILE",
                     help="file to write (default my_algorithm.py; never overwritten)")
    new.add_argument("--draft", metavar="DESCRIPTION",
                     help="ask an OpenAI-compatible endpoint to draft the script from this description, "
                          "then check the draft in the jail (it never runs outside it)")
    new.add_argument("--endpoint", metavar="URL",
                     help="chat-completions base URL (e.g. http://127.0.0.1:8080/v1; default $MEVAUCTION_LLM_URL); "
                          "the API key is read from $MEVAUCTION_LLM_KEY")
    new.add_argument("--model", default=None, help="model name sent to the endpoint (default gpt-4o-mini)")
    new.add_argument("--world", default="amm", choices=[w for w in WORLD_MODULES if w != "table"],
                     help="world of the slot the draft is checked on (default amm)")
    new.set_defaults(func=run_new)
    check = actions.add_parser("check", help="run an algorithm on a generated slot, jailed, as the auction does")
    check.add_argument("file", help="the algorithm (.py, or .wasm)")
    check.add_argument("--world", default="amm", choices=[w for w in WORLD_MODULES if w != "table"],
                       help="world of the generated slot (default amm)")
    check.add_argument("--orders", type=int, default=100, help="orders in the slot (default 100)")
    check.add_argument("--seed", type=int, default=0, help="seed of the slot (default 0)")
    check.add_argument("--budget-ms", type=int, default=1000, help="wall-clock budget (default 1000)")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(func=run_check)


def run_new(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists():
        raise InputError("--output", f"{out} exists (not overwritten)")
    if args.draft is None:
        code = guest_file("template.py")
    else:
        from mevauction.cli.draft import draft

        if not str(out).endswith(".py"):
            raise InputError("--output", "a drafted script is written to a .py file")
        code = draft(args.draft, args.endpoint, args.model)  # only written, never run here
    try:
        out.write_bytes(code)
    except OSError as exc:
        raise InputError("--output", f"cannot write {out}: {exc.strerror or exc}") from None
    if args.draft is None:
        print(f"wrote {out}; try: mevauction algorithm check {out}")
        return 0
    print(f"wrote the draft to {out}; checking it in the jail (mevauction algorithm check {out}):")
    checked = argparse.Namespace(file=str(out), world=args.world, orders=100, seed=0, budget_ms=1000, json=False)
    return run_check(checked)


def run_check(args: argparse.Namespace) -> int:
    if args.orders < 2:
        raise InputError("--orders", "must be at least 2")
    if not 10 <= args.budget_ms <= 60_000:
        raise InputError("--budget-ms", "must be between 10 and 60000")
    if not args.file.endswith((".py", ".wasm")):
        raise InputError("file", "must be a Python script (.py) or a WebAssembly module (.wasm)")
    kind = "wasm" if args.file.endswith(".wasm") else "script"
    program = read_program(str(Path(args.file).resolve()), f"file.{kind}", Path.cwd())
    doc = workloads.generator_for(args.world, "--world")(args.orders, args.seed, builders=[])
    scenario = parse_scenario(doc)
    scenario.builders.append(BuilderSubmission("yours", None, None, None, program))
    report = scenario.run_auction(algorithm_limits=Limits(budget_ms=args.budget_ms))
    cand = report.builders[0]
    run = cand.run
    result = {
        "valid": cand.valid, "reason": cand.reason, "block_orders": len(cand.block.orders),
        "block_value": str(cand.block.value), "bid": str(cand.bid), "default_value": str(report.beta0),
        "would_win": report.winner == cand.id, "orders_offered": len(doc["orders"]) - len(report.conflict_free),
        "budget_ms": args.budget_ms, "run": run.to_json() if run else None,
        "detail": run.detail if run else "", "stderr": run.stderr if run else "",
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        table = Table(title=f"{args.file} on {args.world}, {args.orders} orders, seed {args.seed}")
        table.add_column("")
        table.add_column("", justify="right")
        detail = f" ({run.detail})" if run and run.detail and not cand.valid else ""
        table.add_row("valid", "yes" if cand.valid else f"no: {cand.reason}{detail}")
        table.add_row("orders offered (M \\ S)", str(result["orders_offered"]))
        table.add_row("its block", f"{len(cand.block.orders)} orders, {fmt_wei(cand.block.value)}")
        table.add_row("default block (β0)", fmt_wei(report.beta0))
        table.add_row("its bid", fmt_wei(cand.bid))
        table.add_row("would win", "yes" if result["would_win"] else "no")
        if run:
            table.add_row("wall time", f"{run.wall_ms:.0f} ms of {args.budget_ms} ms")
            table.add_row("requests", str(run.requests))
            table.add_row("limits", f"{Limits().memory_bytes >> 20} MiB memory, {Limits().processes} processes, "
                          "no network, no files")
        Console().print(table)
        if run and run.stderr:
            print("its stderr (last lines):\n  " + run.stderr.replace(" | ", "\n  "))
    return 0 if cand.valid else 1
