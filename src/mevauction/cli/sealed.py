"""``mevauction sealed run|replay|verify`` — sealed-bid auctions in the MPC committee.

Interface: spec/sealed.md. ``run`` seals every bid in a ``mevauction.bids/1`` file
(commitment, Shamir shares, secp256k1 signature), submits them to a committee (a local
one of ``--parties`` servers unless ``--committee`` names running ones), closes the
auction and reports the ``mevauction.sealed/1`` outcome with its transcript.
``replay`` feeds real relay bids in time order into a running private maximum.
``verify`` checks a transcript offline. ``open``/``bid``/``close`` (``sealed_direct``)
run an auction whose bidders submit straight to the servers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console

from mevauction.cli.output import fmt_wei, write_json
from mevauction.errors import as_wei, require
from mevauction.intake.scenario import read_json

MECHANISMS = ("first", "second", "builder", "topk", "double")
REPORT_FORMAT = "mevauction.sealed/1"
BIDS_FORMAT = "mevauction.bids/1"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sealed", help="sealed-bid auctions computed by the MPC committee",
                       description="Sealed-bid auctions: bids are secret-shared to an MPyC committee.")
    ssub = p.add_subparsers(dest="sealed_command", metavar="ACTION")
    r = ssub.add_parser("run", help="run one sealed auction on a bids file")
    r.add_argument("--bids", required=True, help="bids file (mevauction.bids/1)")
    r.add_argument("--mechanism", required=True, choices=MECHANISMS)
    _common(r)
    r.add_argument("--k", type=int, default=1, help="units for topk (default 1)")
    r.add_argument("--reserve", default="0", help="secret reserve β0 in wei for builder (default 0)")
    r.add_argument("--quantity-bits", type=int, default=2,
                   help="with --backend tfhe: a trader's quantity at one price is below 2^BITS (default 2)")
    r.set_defaults(func=run)
    rp = ssub.add_parser("replay", help="replay relay builder bids as sealed bids, in time order")
    rp.add_argument("relay", help="relay builder_blocks_received JSON")
    rp.add_argument("--speed", type=float, default=1.0,
                    help="replay speed: 1 = the relay's real arrival times (default), 10 = ten times faster, "
                         "0 = as fast as possible")
    _common(rp)
    rp.set_defaults(func=replay)
    v = ssub.add_parser("verify", help="check a transcript (or a report with one) offline")
    v.add_argument("transcript", help="mevauction.transcript/1 file, or a mevauction.sealed/1 report")
    v.add_argument("--committee-keys", metavar="FILE",
                   help="the committee's published key set (mevauction.committee/1) the servers' statements "
                        "must be signed with, or a TFHE pair's parties file; required for OK")
    v.set_defaults(func=verify)
    from mevauction.cli import sealed_direct

    sealed_direct.register(ssub, _report, _emit)
    from mevauction.cli import sealed_2pc

    sealed_2pc.register(ssub)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parties", type=int, default=3, help="committee size m (default 3; < 3 gives no privacy)")
    p.add_argument("--committee", help="intake host:port of running servers, comma-separated (default: start locally)")
    p.add_argument("--control-key-file", help="with --committee: the auctioneer's private key (hex) the servers pinned")
    p.add_argument("--tls-dir", help="with --committee: directory with .config/mpyc_ca.crt, the servers' TLS CA")
    p.add_argument("--backend", choices=("mpc", "2pc", "tfhe"), default="mpc",
                   help="mpc: the MPyC committee (default); 2pc: two parties, garbled circuits "
                        "(first/second/builder/topk/double); tfhe: key holder + evaluator, TFHE (double)")
    p.add_argument("--parties-file", metavar="F",
                   help="with --backend 2pc: a running pair (mevauction.2pc-parties/1) instead of a local one")
    p.add_argument(
        "--json", metavar="OUT", help="write the report to OUT (- for stdout); the transcript goes beside it"
    )


# -- bids files -------------------------------------------------------------------------

def load_bids(path: str, mechanism: str):
    from mevauction.privacy.client import SealedBid
    from mevauction.privacy.field import BID_BITS, MAX_CURVE_POINTS, QUANTITY_BITS
    from mevauction.privacy.messages import key_from_hex

    doc = read_json(path)
    require(isinstance(doc, dict) and doc.get("format") == BIDS_FORMAT, "format", f"expected {BIDS_FORMAT!r}")
    items = doc.get("bids")
    require(isinstance(items, list), "bids", "must be a list")
    bids, grid = [], []
    if mechanism == "double":
        for i, b in enumerate(items):
            require(isinstance(b, dict) and isinstance(b.get("curve"), list) and b["curve"], f"bids[{i}].curve",
                    "a double-auction bid needs a non-empty curve of [price, quantity] steps")
            for j, step in enumerate(b["curve"]):
                require(
                    isinstance(step, list) and len(step) == 2, f"bids[{i}].curve[{j}]", "expected [price, quantity]"
                )
                grid.append(as_wei(step[0], f"bids[{i}].curve[{j}][0]"))
        grid = sorted(set(grid))
        require(len(items) * len(grid) < MAX_CURVE_POINTS, "bids",
                f"bids × distinct prices must be below {MAX_CURVE_POINTS} ({len(items)} × {len(grid)}): "
                "beyond it the aggregates could pass 2^64")
    for i, b in enumerate(items):
        require(isinstance(b, dict), f"bids[{i}]", "must be an object")
        bidder = b.get("bidder")
        require(isinstance(bidder, str) and bidder, f"bids[{i}].bidder", "must be a non-empty string")
        key = key_from_hex(b["key"], f"bids[{i}].key") if "key" in b else None
        if mechanism == "double":
            side = b.get("side")
            require(side in ("buy", "sell"), f"bids[{i}].side", "must be 'buy' or 'sell'")
            inc = [0] * len(grid)
            for j, (price, qty) in enumerate(b["curve"]):
                q = as_wei(qty, f"bids[{i}].curve[{j}][1]")
                require(q < 1 << QUANTITY_BITS, f"bids[{i}].curve[{j}][1]", f"quantity must be below 2^{QUANTITY_BITS}")
                inc[grid.index(as_wei(price, "price"))] += q
            require(all(v < 1 << QUANTITY_BITS for v in inc), f"bids[{i}].curve",
                    f"quantities at one price must sum below 2^{QUANTITY_BITS}")
            bids.append(SealedBid(bidder, inc, side=side, key=key))
        else:
            amount = as_wei(b.get("amount"), f"bids[{i}].amount")
            require(amount < 1 << BID_BITS, f"bids[{i}].amount", f"must be below 2^{BID_BITS}")
            bids.append(SealedBid(bidder, [amount], side="builder" if mechanism == "builder" else "", key=key))
    return bids, grid


def _access(args):
    """The named running committee with the auctioneer's key, or None (start a local one)."""
    if not args.committee:
        return None
    from mevauction.errors import host_port
    from mevauction.privacy.client import CommitteeAccess
    from mevauction.privacy.messages import key_from_hex

    require(args.control_key_file is not None, "--control-key-file",
            "a running committee takes control requests signed by its auctioneer's key only")
    key = key_from_hex(Path(args.control_key_file).read_text().strip(), "--control-key-file")
    return CommitteeAccess([host_port(a, "--committee") for a in args.committee.split(",") if a], key, args.tls_dir)


def _execute(args, mechanism: str, bids, **kwargs):
    """Run on the named committee, or on a local one started (and stopped) for this run."""
    from mevauction.privacy.client import Coordinator, LocalCommittee, privacy_warning, run_on

    access = _access(args)
    parties = len(access.intake) if access else args.parties
    require(parties >= 1, "--parties", "must be at least 1")
    console = Console(stderr=True)
    if warning := privacy_warning(parties):
        console.print(f"[yellow]warning:[/] {warning}")

    async def go(target, local: bool):
        result = await run_on(target, mechanism, bids, **kwargs)
        if local and result.ok:
            async with Coordinator(target) as co:
                await co.shutdown()
        return result

    with console.status(f"sealed {mechanism} auction: {len(bids)} bids, {parties} servers…"):
        if access is not None:
            return asyncio.run(go(access, False)), parties
        with LocalCommittee(parties) as committee:
            args.key_set = committee.key_set()  # what this local committee publishes; written beside the report
            return asyncio.run(go(committee.access(), True)), parties


def _report(result, parties: int, n_bids: int, extra: dict) -> dict:
    from mevauction.privacy.field import threshold_for
    from mevauction.privacy.transcript import build

    sent = [s.get("bytes_sent") for s in result.statements if isinstance(s.get("bytes_sent"), int)]
    outcome = result.outcome or {}
    return {"format": REPORT_FORMAT, "mechanism": result.mechanism if result.mechanism != "stream" else "replay",
            "parties": parties, "status": "ok" if result.ok else "aborted",
            **({"reason": result.reason} if not result.ok else {}),
            "winner": outcome.get("winner"), "price": outcome.get("price"), "winners": outcome.get("winners", []),
            "n_bids": n_bids, "elapsed_s": round(result.elapsed_s, 6), "preprocess_s": round(result.preprocess_s, 6),
            "bytes_sent_per_party": max(sent) if sent else None, "bytes_sent_by_server": sent,
            "excluded": result.statements[0].get("excluded", []) if result.ok else [],
            "rejected": result.rejected, **extra,
            "transcript": build(result, threshold_for(parties))}


def _emit(report: dict, target: str | None, key_set: dict | None = None) -> None:
    if target and target != "-" and report["transcript"] is not None:
        path = Path(target)
        tpath = path.with_name(path.stem + ".transcript.json")
        write_json(report["transcript"], str(tpath))
        report = {**report, "transcript": str(tpath)}
        if key_set is not None:  # a local committee's key set, for `sealed verify --committee-keys`
            write_json(key_set, str(path.with_name(path.stem + ".committee.json")))
    if target:
        write_json(report, target)
    if target != "-":
        console = Console()
        if report["status"] != "ok":
            console.print(f"[red]aborted[/]: {report.get('reason')} — nothing revealed")
            return
        price = report["price"]
        console.print(f"[bold]{report['mechanism']}[/]: winner {report['winner'] or '—'}, "
                      f"price {fmt_wei(price) if isinstance(price, int) else price}, "
                      f"winners {len(report['winners'])}, {report['n_bids']} bids")
        console.print(f"deadline → result {report['elapsed_s'] * 1e3:.1f} ms "
                      f"(preprocessing before the deadline {report['preprocess_s']:.2f} s), "
                      f"{report['bytes_sent_per_party']} bytes sent per server")
        for x in report["excluded"] + report["rejected"]:
            console.print(f"  excluded {x['bidder']}: {x['reason']}")


def run(args: argparse.Namespace) -> int:
    if args.mechanism == "topk":
        require(args.k >= 1, "--k", "must be at least 1")
    reserve = as_wei(args.reserve, "--reserve")
    require(args.parties_file is None or args.backend == "2pc", "--parties-file",
            "needs --backend 2pc here (a running TFHE pair takes sealed open|bid|close)")
    if args.backend == "tfhe":
        from mevauction.cli import sealed_tfhe

        sealed_tfhe.check(args)
    bids, grid = load_bids(args.bids, args.mechanism)
    if args.backend == "tfhe":
        report = sealed_tfhe.run_double(bids, grid, args.quantity_bits)
        _emit(report, args.json)
        return 0 if report["status"] == "ok" else 1
    if args.backend == "2pc":
        from mevauction.cli.sealed_2pc import run_bids, run_curves

        if args.mechanism == "double":
            keys, report = run_curves(bids, grid, args.parties_file)
        else:
            keys, report = run_bids(args.mechanism, [b.bidder for b in bids], [b.values[0] for b in bids],
                                    reserve, args.k, args.parties_file)
        _emit(report, args.json, keys)
        return 0 if report["status"] == "ok" else 1
    if args.mechanism == "builder":
        from mevauction.privacy.builder_auction import RESERVE_LABEL
        from mevauction.privacy.client import SealedBid
        from mevauction.privacy.field import BID_BITS

        require(reserve < 1 << BID_BITS, "--reserve", f"must be below 2^{BID_BITS}")
        bids = [SealedBid(RESERVE_LABEL, [reserve], side="reserve"), *bids]
    result, parties = _execute(args, args.mechanism, bids, k=args.k, grid=grid, max_bids=max(1, len(bids)))
    n = len(bids) - (args.mechanism == "builder")
    _emit(_report(result, parties, n, {}), args.json, getattr(args, "key_set", None))
    return 0 if result.ok else 1


def load_relay(path: str) -> tuple[list, list[float]]:
    """Sealed bids in arrival order and their arrival times in seconds after the first."""
    from mevauction.privacy.client import SealedBid
    from mevauction.privacy.field import BID_BITS

    doc = read_json(path)
    items = doc.get("data", doc) if isinstance(doc, dict) else doc
    require(isinstance(items, list) and items, "relay", "expected a non-empty list of builder_blocks_received items")
    rows = []
    for i, it in enumerate(items):
        require(isinstance(it, dict) and "builder_pubkey" in it, f"relay[{i}]", "missing builder_pubkey")
        value = as_wei(it.get("value"), f"relay[{i}].value")
        require(value < 1 << BID_BITS, f"relay[{i}].value", f"must be below 2^{BID_BITS}")
        ts = as_wei(it.get("timestamp_ms"), f"relay[{i}].timestamp_ms")
        rows.append((ts, i, str(it["builder_pubkey"]), value))
    rows.sort()
    return [SealedBid(b, [v]) for _, _, b, v in rows], [(ts - rows[0][0]) / 1000 for ts, _, _, _ in rows]


def replay(args: argparse.Namespace) -> int:
    require(args.speed >= 0, "--speed", "must be non-negative")
    require(args.backend != "tfhe", "--backend", "tfhe runs `sealed run --mechanism double` only")
    bids, arrivals = load_relay(args.relay)
    arrival_s = [t / args.speed for t in arrivals] if args.speed > 0 else None
    values = [b.values[0] for b in bids]
    best = max(range(len(values)), key=lambda i: (values[i], -i))
    clear = {"winner": bids[best].bidder, "price": values[best]}
    if args.backend == "2pc":  # one first-price circuit over the whole slot at its end: no running updates
        from mevauction.cli.sealed_2pc import run_bids

        keys, report = run_bids("first", [b.bidder for b in bids], values, parties_file=args.parties_file)
        report.update(mechanism="replay", plaintext=clear,
                      matches_plaintext=(report["winner"], report["price"]) == (clear["winner"], clear["price"]))
        _emit(report, args.json, keys)
        if args.json != "-":
            Console().print(f"matches plaintext: {report['matches_plaintext']}")
        return 0 if report["status"] == "ok" and report["matches_plaintext"] else 1
    result, parties = _execute(args, "stream", bids, max_bids=len(bids), arrivals_s=arrival_s)
    extra: dict[str, Any] = {"plaintext": clear}
    if result.ok:
        per_server = [s["timing"]["update_latency_s"] for s in result.statements]
        updates = [max(col) * 1e3 for col in zip(*per_server)]
        extra.update(updates=len(updates), update_latency_ms={
            "median": round(statistics.median(updates), 3) if updates else None,
            "p99": round(sorted(updates)[min(len(updates) - 1, int(0.99 * len(updates)))], 3) if updates else None})
        extra["matches_plaintext"] = (result.outcome["winner"], result.outcome["price"]) == (
            clear["winner"],
            clear["price"],
        )
    report = _report(result, parties, len(bids), extra)
    _emit(report, args.json, getattr(args, "key_set", None))
    if result.ok and args.json != "-":
        lat = report["update_latency_ms"]
        Console().print(f"{report['updates']} private max updates: median {lat['median']} ms, p99 {lat['p99']} ms; "
                        f"matches plaintext: {report['matches_plaintext']}")
    return 0 if result.ok and report["matches_plaintext"] else 1


def verify(args: argparse.Namespace) -> int:
    from mevauction.privacy.transcript import verify as check

    doc = read_json(args.transcript)
    if isinstance(doc, dict) and doc.get("format") == REPORT_FORMAT:
        t = doc.get("transcript")
        if not isinstance(t, dict):
            path = Path(str(t))
            if not path.exists():
                path = Path(args.transcript).parent / path.name
            t = read_json(path)
        doc = t
    pinned = read_json(args.committee_keys) if args.committee_keys else None
    if isinstance(pinned, dict) and pinned.get("format") == "mevauction.tfhe-parties/1":  # a TFHE pair's keys
        from mevauction.privacy.client import key_set
        from mevauction.privacy.tfhe import pair

        try:
            pinned = key_set([e.signer for e in pair.parties(pinned)], ["", ""])
        except ValueError as exc:
            require(False, "--committee-keys", str(exc))
    require(pinned is None or (isinstance(pinned, dict) and pinned.get("format") == "mevauction.committee/1"),
            "--committee-keys", "not a mevauction.committee/1 key set (or a TFHE parties file)")
    problems = check(doc, pinned)
    if problems:
        for p in problems:
            print(f"FAIL {p}")
        return 1
    outcome = doc.get("outcome") or {}
    print(
        f"transcript OK: {doc.get('mechanism')} auction {doc.get('auction')}, "
        f"{len(doc.get('statements', []))} servers agree, winner {outcome.get('winner')}, price {outcome.get('price')}"
    )
    return 0
