"""``mevauction evm``: make evm-world scenarios (generated, or from a node's output)."""

from __future__ import annotations

import json
import sys

from mevauction.errors import InputError
from mevauction.intake.scenario import read_json


def _write(doc: dict, out: str) -> None:
    text = json.dumps(doc, indent=1)
    if out == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(out, "w") as fh:
            fh.write(text)
        print(f"wrote {out} ({len(doc['orders'])} orders)")


def _generate(args) -> int:
    from mevauction.intake.workloads.evm import generate

    if args.orders < 1:
        raise InputError("orders", f"must be at least 1, got {args.orders}")
    _write(generate(args.orders, args.seed), args.out)
    return 0


def _from_rpc(args) -> int:
    from mevauction.intake.rpc_block import scenario_from_rpc

    bundles = read_json(args.bundles) if args.bundles else None
    doc = scenario_from_rpc(read_json(args.block), read_json(args.prestate), bundles, pin_coinbase=args.pin_coinbase)
    _write(doc, args.out)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("evm", help="evm world: generate slots, backtest from a node's JSON-RPC output")
    sub = parser.add_subparsers(dest="evm_command", metavar="ACTION", required=True)
    gen = sub.add_parser("generate", help="a slot of signed transactions against the workload contracts")
    gen.add_argument("--orders", type=int, default=200)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("-o", "--out", default="-")
    gen.set_defaults(func=_generate)
    rpc = sub.add_parser("from-rpc", help="a scenario from eth_getBlockByNumber + prestateTracer (+ bundles)")
    rpc.add_argument("--block", required=True, help="eth_getBlockByNumber(n, true) JSON")
    rpc.add_argument("--prestate", required=True, help="debug_traceBlockByNumber prestateTracer JSON")
    rpc.add_argument("--bundles", help="eth_sendBundle params (object, list, or JSON-RPC requests)")
    rpc.add_argument("--pin-coinbase", action="store_true", help="use the block's miner instead of a one-time address")
    rpc.add_argument("-o", "--out", default="-")
    rpc.set_defaults(func=_from_rpc)
