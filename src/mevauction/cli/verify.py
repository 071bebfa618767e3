"""``mevauction verify``: check a mined block against a slot's published report, from chain data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mevauction.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "verify", help="re-derive a block's payments and refunds from chain data and check them against a report",
        description="Re-derive, from block N's transactions, receipts and state diffs, what each transaction paid "
                    "the fee recipient and every transfer the fee recipient made; with --report (a slot document "
                    "as GET /v1/slots/N of a service run with --chain publishes it), check the transaction order, "
                    "each order's payment, every refund and the proposer's revenue. Exit 1 on any mismatch.")
    p.add_argument("--rpc", required=True, help="the node's JSON-RPC URL (needs debug_traceTransaction)")
    p.add_argument("--block", required=True, type=int, help="block number")
    p.add_argument("--report", help="slot document JSON file (its 'report' and 'delivery')")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mevauction.chain.rpc import NodeUnavailable, RpcClient, RpcError
    from mevauction.delivery.verify import verify

    document = None
    if args.report:
        try:
            document = json.loads(Path(args.report).read_text())
        except (OSError, ValueError) as exc:
            raise InputError("--report", f"cannot read {args.report}: {exc}") from None
        if not isinstance(document, dict) or not ("report" in document or "searchers" in document):
            raise InputError("--report", "must be a slot document (GET /v1/slots/N) or {report, delivery}")
    if args.block < 0:
        raise InputError("--block", "must be a block number ≥ 0")
    rpc = RpcClient(args.rpc, timeout=30.0)
    try:
        result = verify(rpc, args.block, document)
    except NodeUnavailable as exc:
        raise InputError("--rpc", f"node did not answer: {exc}") from None
    except RpcError as exc:
        raise InputError("--rpc", f"node refused: {exc}") from None
    finally:
        rpc.close()
    if args.json:
        print(json.dumps(result.summary(), indent=2))
    else:
        print(f"block {result.number} {result.hash}  fee recipient {result.coinbase}")
        for t in result.txs:
            kind = "settlement" if t.sender == result.coinbase else "order tx  "
            print(f"  {t.index:4d} {kind} {t.hash}  from {t.sender}  to {t.to}  value {t.value}  "
                  f"to fee recipient {t.to_coinbase}  {'ok' if t.success else 'REVERTED'}")
        for m in result.mismatches:
            print(f"MISMATCH: {m}")
        if document is not None:
            print("verified: the block matches the report" if result.ok else
                  f"{len(result.mismatches)} mismatch(es)")
    return 0 if result.ok else 1
