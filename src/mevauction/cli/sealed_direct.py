"""``mevauction sealed open|bid|close`` — an auction whose bidders submit straight to the committee.

The auctioneer ``open``s (writes the auction's spec), each bidder runs ``bid`` on its
own machine (shares, commits, submits to every server over TLS, checks the servers'
signed receipts, keeps its opening), the auctioneer ``close``s and gets the report and
transcript: no coordinator ever holds a plaintext bid (``privacy.bidder``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mevauction.cli.output import write_json
from mevauction.errors import as_wei, require
from mevauction.intake.scenario import read_json

DIRECT_MECHANISMS = ("first", "second", "topk")


def register(ssub: argparse._SubParsersAction, report: Callable[..., dict], emit: Callable[..., None]) -> None:
    """``report``/``emit``: ``sealed``'s report builder and writer (passed in, not imported,
    so the two CLI modules do not import each other)."""
    o = ssub.add_parser("open", help="auctioneer: open an auction bidders submit to directly")
    _servers(o, control=True)
    o.add_argument("--mechanism", required=True, choices=(*DIRECT_MECHANISMS, "builder", "double"),
                   help="builder: --backend 2pc only (the reserve comes with close --reserve); double: --backend tfhe")
    o.add_argument("--registered", metavar="FILE",
                   help="2pc: JSON {label: signer address}, the only keys that may bid under non-address labels")
    o.add_argument("--max-bids", type=int, required=True)
    o.add_argument("--k", type=int, default=1, help="units for topk (default 1)")
    o.add_argument("--spec", required=True, help="write the auction's spec here (close reads it)")
    o.add_argument("--grid", help="tfhe: the public price levels in wei, comma-separated, ascending")
    o.add_argument("--quantity-bits", type=int, default=2, help="tfhe: each order's quantity at one level is below 2^B")
    o.add_argument("--close-after", type=float, default=3600.0,
                   help="tfhe: seconds until the deadline if `sealed close` has not called it (default 3600)")
    o.set_defaults(func=open_cmd)
    b = ssub.add_parser("bid", help="bidder: seal and submit one bid straight to every server")
    _servers(b, control=False)
    b.add_argument("--auction", required=True)
    b.add_argument("--amount", help="the bid in wei, below 2^64 (mpc, 2pc)")
    b.add_argument("--side", choices=("buy", "sell"), help="tfhe: the order's side")
    b.add_argument("--curve", help="tfhe: JSON [[price, quantity], ...] on the auction's grid")
    b.add_argument("--key-file", help="the bidder's secp256k1 private key (hex); default: a fresh one")
    b.add_argument("--bidder", help="label (default: the key's address)")
    b.add_argument("--opening", required=True, help="where to keep the opening (publish it if you win)")
    b.add_argument("--spec", help="tfhe with a running pair (--parties-file its parties file): the spec "
                                  "`sealed open` wrote (auction grid and quantity bits)")
    b.add_argument("--committee-keys", metavar="FILE",
                   help="2pc: the pair's published key set (mevauction.committee/1) the receipts must be signed with")
    b.set_defaults(func=bid_cmd)
    c = ssub.add_parser("close", help="auctioneer: close, gather the signed outcome and the transcript")
    _servers(c, control=True)
    c.add_argument("--spec", required=True, help="the spec `sealed open` wrote")
    c.add_argument("--openings", nargs="*", default=[], help="the winners' published opening files")
    c.add_argument("--reserve", default="0", help="2pc builder: the secret reserve β0 in wei")
    c.add_argument("--json", metavar="OUT", help="write the report to OUT; the transcript goes beside it")
    c.set_defaults(func=close_cmd, report=report, emit=emit)


def _servers(p: argparse.ArgumentParser, control: bool) -> None:
    p.add_argument("--committee", help="mpc: intake host:port of every server, comma-separated, in order")
    p.add_argument("--tls-dir", help="directory with .config/mpyc_ca.crt, the servers' TLS CA")
    if control:
        p.add_argument("--control-key-file", help="mpc, tfhe with a running pair: the auctioneer's private key (hex)")
    p.add_argument("--backend", choices=("mpc", "2pc", "tfhe"), default="mpc",
                   help="mpc: the committee (default); 2pc: the two parties of --parties-file; "
                        "tfhe: the double auction's key holder and evaluator (a running pair, or started by `open`)")
    p.add_argument("--parties-file", metavar="F",
                   help="2pc: the pair (mevauction.2pc-parties/1, with garbler_intake and evaluator_intake); "
                        "tfhe: a running pair's parties file (mevauction.tfhe-parties/1), or for bid without one "
                        "the spec `sealed open --backend tfhe` wrote")


def _intake(args: argparse.Namespace) -> list[tuple[str, int]]:
    from mevauction.errors import host_port

    require(bool(args.committee), "--committee", "required with --backend mpc")
    return [host_port(a, "--committee") for a in args.committee.split(",") if a]


def _control(args: argparse.Namespace):
    from mevauction.privacy.client import CommitteeAccess
    from mevauction.privacy.messages import key_from_hex

    require(bool(args.control_key_file), "--control-key-file", "required with --backend mpc")
    key = key_from_hex(Path(args.control_key_file).read_text().strip(), "--control-key-file")
    return CommitteeAccess(_intake(args), key, args.tls_dir)


def open_cmd(args: argparse.Namespace) -> int:
    from mevauction.privacy.bidder import open_auction
    from mevauction.privacy.client import new_auction_id

    require(args.max_bids >= 1, "--max-bids", "must be at least 1")
    require((args.mechanism == "double") == (args.backend == "tfhe"), "--mechanism",
            "double needs --backend tfhe here, and tfhe runs double only")
    if args.backend == "tfhe":  # the auctioneer's process holds the parties: it runs until the close
        from mevauction.cli import sealed_tfhe

        return sealed_tfhe.open_direct(args)
    require(args.mechanism != "builder" or args.backend == "2pc", "--mechanism", "builder needs --backend 2pc here")
    spec = {"auction": new_auction_id(), "mechanism": args.mechanism, "max_bids": args.max_bids,
            "k": args.k, "grid": [], "bits": 64}
    if args.backend == "2pc":
        from mevauction.cli import sealed_2pc

        spec = sealed_2pc.open_direct(args, spec)
    else:
        asyncio.run(open_auction(_control(args), spec))
    write_json(spec, args.spec)
    print(spec["auction"])
    return 0


def bid_cmd(args: argparse.Namespace) -> int:
    from mevauction.privacy.bidder import bidder_access, submit_bid
    from mevauction.privacy.client import SealedBid
    from mevauction.privacy.field import BID_BITS
    from mevauction.privacy.messages import address, key_from_hex, new_key

    key = key_from_hex(Path(args.key_file).read_text().strip(), "--key-file") if args.key_file else new_key()
    if args.backend == "tfhe":
        from mevauction.cli import sealed_tfhe

        result = sealed_tfhe.bid_direct(args, key)
        return _bid_done(args, result)
    require(args.amount is not None, "--amount", "required with --backend mpc or 2pc")
    amount = as_wei(args.amount, "--amount")
    require(amount < 1 << BID_BITS, "--amount", f"must be below 2^{BID_BITS}")
    bid = SealedBid(args.bidder or address(key), [amount], key=key)
    if args.backend == "2pc":
        from mevauction.cli import sealed_2pc

        result = sealed_2pc.bid_direct(args, bid)
    else:
        result = asyncio.run(submit_bid(bidder_access(_intake(args), args.tls_dir), args.auction, bid))
    return _bid_done(args, result)


def _bid_done(args: argparse.Namespace, result: Any) -> int:
    write_json({**result.opening, "auction": args.auction, "receipts": result.receipts}, args.opening)
    for line in result.refused + result.complaints:
        print(f"FAIL {line}")
    if result.ok:
        print(f"bid {result.digest} accepted by every {'server' if args.backend == 'mpc' else 'party'}; "
              "receipts checked")
    return 0 if result.ok else 1


def close_cmd(args: argparse.Namespace) -> int:
    from mevauction.privacy.bidder import close_auction

    spec = read_json(args.spec)
    require(isinstance(spec, dict) and isinstance(spec.get("auction"), str), "--spec", "not a spec from sealed open")
    openings = []
    for path in args.openings:
        o = json.loads(Path(path).read_text())
        require(isinstance(o, dict) and o.get("auction") == spec["auction"], path, "not an opening of this auction")
        openings.append({k: v for k, v in o.items() if k not in ("auction", "receipts")})
    if args.backend in ("2pc", "tfhe"):
        from mevauction.cli import sealed_2pc, sealed_tfhe

        report = (sealed_2pc if args.backend == "2pc" else sealed_tfhe).close_direct(args, spec)
        args.emit(report, args.json)
        return 0 if report["status"] == "ok" else 1
    result = asyncio.run(close_auction(_control(args), spec, openings))
    args.emit(args.report(result, len(_intake(args)), len(result.headers), {}), args.json)
    return 0 if result.ok else 1
