"""``mevauction preconf …``: mev-commit-compatible bids, commitments, settlement, simulation.

``bid-hash`` and ``residual`` follow spec/preconf.md exactly; ``sign-bid``, ``commit``,
``settle`` and ``simulate`` work on the JSON formats of :mod:`mevauction.preconf`.
Private keys are read from files (one hex line), never from the command line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mevauction.errors import InputError, as_wei, require
from mevauction.eth import fields
from mevauction.preconf.decay import residual
from mevauction.preconf.hashing import address_bytes
from mevauction.preconf.keys import BadSignature, Signer
from mevauction.preconf.messages import Bid, Commitment, SignedBid, parse_uint
from mevauction.preconf.nike import GROUP_R, BadPoint, shared_key
from mevauction.preconf.settlement import (
    DISPATCH_WINDOW_MS,
    PROTOCOL_FEE_PERCENT,
    SLASH_PENALTY_PERCENT,
    DeliveredBlock,
    Recorded,
    settle_one,
)


def _read_json(path: str, field: str) -> object:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(field, f"no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise InputError(field, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _read_key_text(path: str, field: str) -> str:
    try:
        return Path(path).read_text().strip()
    except FileNotFoundError:
        raise InputError(field, f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(field, f"cannot read: {exc}") from None


def _read_secret(path: str, field: str) -> int:
    """A scalar kept in a file as one line of hex (``0x`` optional), at most 32 bytes."""
    return int.from_bytes(fields.data(_read_key_text(path, field), field, max_length=32, prefix=False), "big")


def _signer(path: str) -> Signer:
    """The secp256k1 key in ``path``: one line of 64 hex digits (``0x`` optional)."""
    return Signer(_read_key_text(path, "--key-file"), "--key-file")


def _contract(text: str) -> str:
    address_bytes(text, "--contract")
    return text


def _chain_id(text: str) -> int:
    return parse_uint(text, "--chain-id", 256)


def _print_json(data: object, out: str | None) -> None:
    text = json.dumps(data, indent=2)
    if out:
        Path(out).write_text(text + "\n")
    else:
        print(text)


def cmd_bid_hash(args: argparse.Namespace) -> int:
    bid = Bid.from_json(_read_json(args.bid, "BID.json"))
    print(bid.digest(_chain_id(args.chain_id), _contract(args.contract)).hex())
    return 0


def cmd_residual(args: argparse.Namespace) -> int:
    print(residual(parse_uint(args.start, "--start", 64), parse_uint(args.end, "--end", 64),
                   parse_uint(args.dispatch, "--dispatch", 64)))
    return 0


def cmd_sign_bid(args: argparse.Namespace) -> int:
    bid = Bid.from_json(_read_json(args.bid, "BID.json"))
    signed = SignedBid.sign(bid, _signer(args.key_file), _chain_id(args.chain_id), _contract(args.contract))
    _print_json(signed.to_json(), args.out)
    return 0


def cmd_commit(args: argparse.Namespace) -> int:
    chain_id, contract = _chain_id(args.chain_id), _contract(args.contract)
    signed = SignedBid.from_json(_read_json(args.bid, "BID.json"), chain_id, contract)
    try:
        signed.bidder()
    except ValueError as exc:
        raise InputError("BID.json.signature", str(exc)) from None
    nike_secret = _read_secret(args.nike_key_file, "--nike-key-file")
    require(0 < nike_secret < GROUP_R, "--nike-key-file", "must be a BN254 scalar in [1, r)")
    try:
        key = shared_key(nike_secret, (signed.bid.bidder_pk_x, signed.bid.bidder_pk_y))
    except BadPoint as exc:
        raise InputError("BID.json.bidderPKx", f"bidder key is not a BN254 point: {exc}") from None
    commitment = Commitment.make(signed, key, _signer(args.key_file), parse_uint(args.dispatch, "--dispatch", 64))
    _print_json(commitment.to_json(), args.out)
    return 0


def cmd_settle(args: argparse.Namespace) -> int:
    commitment = Commitment.from_json(_read_json(args.commitment, "COMMITMENT.json"))
    block = DeliveredBlock.from_json(_read_json(args.block, "BLOCK.json"))
    # The file's dispatch timestamp is the provider's claim: it counts only within the
    # dispatch window before the time the commitment was recorded (--recorded-ms).
    recorded = Recorded(commitment, parse_uint(args.recorded_ms, "--recorded-ms", 64),
                        as_wei(args.escrowed, "--escrowed") if args.escrowed is not None
                        else commitment.signed_bid.bid.bid_amt)
    try:
        result = settle_one(recorded, block, as_wei(args.stake, "--stake"),
                            parse_uint(args.dispatch_window_ms, "--dispatch-window-ms", 64),
                            as_wei(args.fee_percent, "--fee-percent"),
                            as_wei(args.penalty_percent, "--penalty-percent"))
    except BadSignature as exc:  # a signature inside the commitment file
        raise InputError(f"COMMITMENT.json.{exc.field}", exc.message) from None
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError("COMMITMENT.json", str(exc)) from None
    _print_json(result.to_json(), args.out)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from mevauction.preconf.market import MarketConfig, simulate, spread
    from mevauction.preconf.plots import plot_market

    require(args.slots > 0, "--slots", "must be positive")
    require(args.bidders > 0, "--bidders", "must be positive")
    require(args.seeds > 0, "--seeds", "must be positive")
    if args.compare:
        configs = [("deferring", False), ("deferring", True), ("greedy", False), ("dynamic-reserve", False)]
    else:
        configs = [(args.policy, args.decay == "on")]
    seeds = range(args.seed, args.seed + args.seeds)
    runs = {(p, d): [simulate(MarketConfig(slots=args.slots, bidders=args.bidders, policy=p, decay=d, seed=s),
                              progress=args.seeds == 1) for s in seeds] for p, d in configs}
    reports = [rs[0] for rs in runs.values()]
    if args.seeds == 1 and len(reports) == 1:
        output: dict = reports[0]
    else:
        output = {"format": "mevauction.preconf.simulation-set/2", "seeds": list(seeds),
                  "configs": [{"policy": p, "decay": "on" if d else "off", "spread": spread(rs),
                               "runs": [r["summary"] for r in rs]} for (p, d), rs in runs.items()]}
        if args.seeds == 1:
            output["runs"] = reports
    Path(args.json).write_text(json.dumps(output, indent=2) + "\n")
    for (p, d), rs in runs.items():
        sp = spread(rs)

        def fig(name: str, scale: float = 1.0, fmt: str = ".3f") -> str:
            x = sp.get(name)
            return "n/a" if x is None else f"{x['mean'] * scale:{fmt}} ± {x['sd'] * scale:{fmt}}"
        print(f"{p:>15} decay {'on' if d else 'off':<3} ({len(rs)} seeds)  revenue {fig('providerRevenueWei', 1e-18)}"
              f" ETH  preconf bids {fig('preconfBids', 1, '.0f')}  early accepts {fig('earlyAcceptShare')}  "
              f"premium {fig('premiumOverSpotWeiPerSlot', 1e-18, '.5f')} ETH/slot  capacity-bound rounds "
              f"{fig('capacityBoundRoundShare')}  late participation {fig('lateParticipation')}")
    if args.plots:
        for path in plot_market(reports, Path(args.plots)):
            print(f"wrote {path}")
    return 0


def cmd_bidder_node(args: argparse.Namespace) -> int:
    """mev-commit's bidder HTTP API (POST /v1/bidder/bid) in front of a mevauction service."""
    import uvicorn

    from mevauction.client import Client
    from mevauction.client.bidder_node import BidderNode
    from mevauction.preconf.params import SignedParameters

    with Client(args.service) as client:
        published = SignedParameters.from_json(client.call("preconf_getParams", []), "preconf_getParams")
    provider = published.verify()  # signed by the provider it names
    nike = _read_secret(args.nike_key_file, "--nike-key-file") % GROUP_R
    require(nike != 0, "--nike-key-file", "must not be zero modulo the group order")
    node = BidderNode(args.service, _signer(args.key_file), nike, published.params.chain_id,
                      published.params.contract, provider)
    print(f"bidder node for {node.signer.address} on http://{args.host}:{args.port}/v1/bidder/bid "
          f"-> provider {provider} at {args.service}", flush=True)
    uvicorn.run(node.app(), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    """mevauction's engine as the decision software behind a mev-commit provider node."""
    from mevauction.client.provider_node import NodeDecider
    from mevauction.preconf.deposits import DepositLedger
    from mevauction.preconf.params import AuctionParameters
    from mevauction.preconf.provider import ProviderEngine

    params = AuctionParameters.from_json(_read_json(args.params, "PARAMS.json"), "PARAMS.json")
    signer = _signer(args.key_file)
    require(params.provider.lower() == signer.address.lower(), "--key-file",
            f"is {signer.address}'s key, the parameters name {params.provider}")
    ledger = DepositLedger()
    deposits = _read_json(args.deposits, "--deposits") if args.deposits else {}
    require(isinstance(deposits, dict), "--deposits", "must be a JSON object {bidder: wei}")
    assert isinstance(deposits, dict)
    for bidder, amount in deposits.items():
        ledger.deposit(fields.checksum(fields.address(bidder, f"--deposits.{bidder}")), signer.address,
                       as_wei(amount, f"--deposits.{bidder}"))
    anchor_block = parse_uint(args.anchor_block, "--anchor-block", 64)
    anchor_ms = parse_uint(args.anchor_ms, "--anchor-ms", 64)
    slot_ms = parse_uint(args.slot_ms, "--slot-ms", 64)
    engine = ProviderEngine(signer, _read_secret(args.nike_key_file, "--nike-key-file") % GROUP_R, params, ledger,
                            lambda n: anchor_ms + (n - anchor_block) * slot_ms, history=False, reject_lead_ms=100)
    print(f"deciding for provider {signer.address} behind the node at {args.node}", flush=True)
    NodeDecider(args.node, engine).run()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preconf", help="preconfirmation bids, commitments, settlement, simulation")
    sub = parser.add_subparsers(dest="preconf_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: parser.print_help() or 2)

    p = sub.add_parser("bid-hash", help="mev-commit bid digest (64 hex, no 0x)")
    p.add_argument("bid", metavar="BID.json")
    p.add_argument("--chain-id", required=True)
    p.add_argument("--contract", required=True, help="PreconfManager address")
    p.set_defaults(func=cmd_bid_hash)

    p = sub.add_parser("residual", help="mev-commit residual after decay (1e18 = 100%%)")
    p.add_argument("--start", required=True)
    p.add_argument("--end", required=True)
    p.add_argument("--dispatch", required=True)
    p.set_defaults(func=cmd_residual)

    p = sub.add_parser("sign-bid", help="sign a bid (bidder key from a file)")
    p.add_argument("bid", metavar="BID.json")
    p.add_argument("--chain-id", required=True)
    p.add_argument("--contract", required=True)
    p.add_argument("--key-file", required=True)
    p.add_argument("--out")
    p.set_defaults(func=cmd_sign_bid)

    p = sub.add_parser("commit", help="provider commitment for a signed bid")
    p.add_argument("bid", metavar="BID.json", help="signed bid (sign-bid output)")
    p.add_argument("--chain-id", required=True)
    p.add_argument("--contract", required=True)
    p.add_argument("--key-file", required=True, help="provider secp256k1 key")
    p.add_argument("--nike-key-file", required=True, help="provider BN254 NIKE secret")
    p.add_argument("--dispatch", required=True, help="dispatch timestamp, Unix ms")
    p.add_argument("--out")
    p.set_defaults(func=cmd_commit)

    p = sub.add_parser("settle", help="settle a commitment against the delivered block")
    p.add_argument("commitment", metavar="COMMITMENT.json")
    p.add_argument("block", metavar="BLOCK.json")
    p.add_argument("--stake", required=True, help="provider stake, wei")
    p.add_argument("--recorded-ms", required=True, help="when the commitment was recorded (stored), Unix ms")
    p.add_argument("--dispatch-window-ms", default=str(DISPATCH_WINDOW_MS),
                   help=f"PreconfManager commitmentDispatchWindow (default {DISPATCH_WINDOW_MS})")
    p.add_argument("--escrowed", help="wei the deposit holds for the bid (default: the bid amount)")
    p.add_argument("--fee-percent", default=str(PROTOCOL_FEE_PERCENT), help="1e18 = 100%% (default 2%%)")
    p.add_argument("--penalty-percent", default=str(SLASH_PENALTY_PERCENT), help="1e18 = 100%% (default 5%%)")
    p.add_argument("--out")
    p.set_defaults(func=cmd_settle)

    p = sub.add_parser("bidder-node", help="mev-commit's bidder API (POST /v1/bidder/bid) for a mevauction service")
    p.add_argument("--service", required=True, help="the service's URL (its preconf provider)")
    p.add_argument("--key-file", required=True, help="the bidder's secp256k1 key (one hex line)")
    p.add_argument("--nike-key-file", required=True, help="the bidder's BN254 secret (one hex line)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=13524)
    p.set_defaults(func=cmd_bidder_node)

    p = sub.add_parser("decide", help="decide bids behind a mev-commit provider node (its gRPC decision API)")
    p.add_argument("--node", required=True, help="the node's provider API, HOST:PORT")
    p.add_argument("--params", required=True, metavar="PARAMS.json", help="auction parameters (as published)")
    p.add_argument("--key-file", required=True, help="the provider's secp256k1 key (must match the parameters)")
    p.add_argument("--nike-key-file", required=True)
    p.add_argument("--deposits", help="JSON {bidder: wei}: the deposits the engine may hold escrow against")
    p.add_argument("--anchor-block", required=True, help="an L1 block number ...")
    p.add_argument("--anchor-ms", required=True, help="... and its time, Unix ms")
    p.add_argument("--slot-ms", default="12000")
    p.set_defaults(func=cmd_decide)

    p = sub.add_parser("simulate", help="market simulation: deferring problem and remedies")
    p.add_argument("--slots", type=int, default=100)
    p.add_argument("--bidders", type=int, default=40)
    p.add_argument("--policy", choices=["greedy", "deferring", "dynamic-reserve"], default="greedy")
    p.add_argument("--decay", choices=["on", "off"], default="on")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seeds", type=int, default=1, help="run seeds SEED..SEED+N-1; figures as mean ± sd")
    p.add_argument("--json", required=True, metavar="OUT")
    p.add_argument("--plots", metavar="DIR")
    p.add_argument("--compare", action="store_true",
                   help="run deferring/off, deferring/on, greedy/off, dynamic-reserve/off together")
    p.set_defaults(func=cmd_simulate)
