"""``mevauction sealed run|replay --backend 2pc``: the same bids and report formats on a
two-party garbled-circuit backend (``privacy.twoparty``) instead of the MPC committee.

The report is ``mevauction.sealed/1`` with ``"backend": "2pc"`` and ``"parties": 2``; it
carries a transcript with both parties' signed statements (``sealed verify --committee-keys``:
the pair's key set, written beside a local run's report, ``sealed party keyset`` for a running pair).
With ``--parties-file F`` the run uses a running pair (``mevauction sealed party serve``,
possibly on two hosts) instead of starting one; ``sealed party certs`` makes their TLS
identities (garbler, evaluator, auctioneer) under one CA.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from mevauction.errors import host_port, require


def register(ssub: argparse._SubParsersAction) -> None:
    p = ssub.add_parser("party", help="run one party of the two-party backend (garbler or evaluator) "
                                      "or of the TFHE pair (key holder K or evaluator E)")
    psub = p.add_subparsers(dest="party_command", metavar="ACTION")
    s = psub.add_parser("serve", help="serve the auctioneer's jobs until stopped (no remote shutdown)")
    s.add_argument("--backend", choices=("2pc", "tfhe"), default="2pc")
    s.add_argument("--role", required=True, choices=("garbler", "evaluator", "keyholder", "K", "E"),
                   help="2pc: garbler or evaluator; tfhe: K (keyholder) or E (evaluator)")
    s.add_argument("--listen", metavar="HOST:PORT", help="2pc: where the auctioneer (and the garbler) connect to")
    s.add_argument("--tls-dir", help="2pc: directory with .config/: the CA and this party's certificate")
    s.add_argument("--parties-file", metavar="F",
                   help="tfhe: the pair's published parties file (mevauction.tfhe-parties/1, sealed party pair)")
    s.add_argument("--control-key", metavar="ADDRESS",
                   help="tfhe: the auctioneer's address, the only signer of open and close")
    s.add_argument("--peer", metavar="HOST:PORT", help="garbler: the evaluator's --listen address")
    s.add_argument("--close-timeout", type=float, default=300.0,
                   help="seconds a job may wait for the auctioneer's close or the peer (default 300)")
    s.add_argument("--key-file", required=True,
                   help="the party's signing key (hex); 2pc: made if absent; tfhe: made by sealed party init")
    s.add_argument("--intake", metavar="HOST:PORT",
                   help="2pc: take bidders' own shares here (sealed bid --backend 2pc; TLS with this party's "
                        "certificate); tfhe: the parties file names the intake")
    s.add_argument("--state", help="SQLite file of the open auctions and the shares acknowledged for them, kept "
                                   "across restarts (default KEY-FILE.intake.sqlite)")
    s.set_defaults(func=serve)
    from mevauction.cli import sealed_tfhe

    sealed_tfhe.register_party(psub)
    c = psub.add_parser("certs", help="make the CA and the three TLS identities (garbler, evaluator, auctioneer)")
    c.add_argument("--out", required=True, help="directory to write .config/ into")
    c.set_defaults(func=certs)
    k = psub.add_parser("keyset", help="the pair's key set (mevauction.committee/1) from the parties' addresses")
    k.add_argument("garbler", help="the garbler's KEY.signer.address file")
    k.add_argument("evaluator", help="the evaluator's KEY.signer.address file")
    k.add_argument("--out", default="-", help="where to write it (default stdout)")
    k.set_defaults(func=keyset)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def serve(args: argparse.Namespace) -> int:
    from mevauction.privacy.twoparty import party

    if args.backend == "tfhe":
        from mevauction.cli import sealed_tfhe

        return sealed_tfhe.serve(args)
    require(args.role in ("garbler", "evaluator"), "--role", "2pc: garbler or evaluator")
    require(bool(args.tls_dir), "--tls-dir", "required with --backend 2pc")
    host, port = host_port(args.listen, "--listen")
    role = party.GARBLER if args.role == "garbler" else party.EVALUATOR
    peer = host_port(args.peer, "--peer") if role == party.GARBLER else None
    cfg = Path(args.tls_dir) / ".config"
    require((cfg / f"party_{role}.crt").is_file() and (cfg / "mpyc_ca.crt").is_file(), "--tls-dir",
            f"needs .config/mpyc_ca.crt and .config/party_{role}.crt (see sealed party certs)")
    require(args.close_timeout > 0, "--close-timeout", "must be positive")
    Console(stderr=True).print(f"{args.role} listening on {host}:{port}")
    key = party.load_key(args.key_file)
    # relayed envelopes (serve --sealed --backend 2pc) and bidders' shares, on disk (--state)
    intake = party.make_intake(role, args.key_file, key, args.state or args.key_file + ".intake.sqlite")
    if args.intake:
        i_host, i_port = host_port(args.intake, "--intake")
        intake.serve(i_host, i_port, args.tls_dir)
        Console(stderr=True).print(f"{args.role} takes bidders' shares on {i_host}:{i_port}")
    party.serve(role, args.tls_dir, port, peer, host=host, remote_shutdown=False, close_timeout=args.close_timeout,
                key=key, intake=intake)
    return 0


def certs(args: argparse.Namespace) -> int:
    from mevauction.privacy import tls

    tls.make_certificates(Path(args.out), 3)
    Console(stderr=True).print(f"wrote {Path(args.out) / '.config'}: party_0 garbler, party_1 evaluator, "
                               "party_2 auctioneer (give each host only its own key)")
    return 0


def keyset(args: argparse.Namespace) -> int:
    from mevauction.cli.output import write_json
    from mevauction.privacy.twoparty.local import pair_key_set

    for name in ("garbler", "evaluator"):
        require(Path(getattr(args, name)).is_file(), name, "no such file")
    write_json(pair_key_set([Path(args.garbler), Path(args.evaluator)]), args.out)
    return 0


def _pair(parties_file: str | None):
    from mevauction.privacy.twoparty.local import LocalPair

    return LocalPair() if parties_file is None else _remote(parties_file)


def run_bids(mechanism: str, labels: list[str], amounts: list[int], reserve: int = 0, k: int = 1,
             parties_file: str | None = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The report and, for a local pair, its key set (a running pair's operators publish theirs)."""
    from mevauction.privacy.twoparty.local import LocalPair

    require(bool(amounts), "bids", "the two-party backend needs at least one bid")
    require(0 <= reserve < 1 << 64, "--reserve", "must be below 2^64")
    console = Console(stderr=True)
    with console.status(f"sealed {mechanism} auction: {len(amounts)} bids, 2 parties (garbled circuit)…"):
        with _pair(parties_file) as pair:
            r = pair.run(mechanism, amounts, reserve, k=min(k, len(amounts)), bidders=labels)
            keys = pair.key_set() if isinstance(pair, LocalPair) else None
    return keys, pair_report(r, mechanism, labels, named_keys(r, keys))


def run_curves(bids: list[Any], grid: list[int],
               parties_file: str | None = None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A double auction on the pair: ``bids`` as ``sealed.load_bids`` gives them (side, steps per level)."""
    from mevauction.privacy.twoparty import double
    from mevauction.privacy.twoparty.local import LocalPair, run_double

    require(bool(bids), "bids", "the two-party backend needs at least one bid")
    try:
        double.widths(len(bids), len(grid))
    except ValueError as exc:
        require(False, "bids", str(exc))
    labels, sides = [b.bidder for b in bids], [b.side for b in bids]
    curves = [double.curve(b.side, b.values) for b in bids]
    console = Console(stderr=True)
    with console.status(f"sealed double auction: {len(bids)} traders × {len(grid)} prices, 2 parties…"):
        with _pair(parties_file) as pair:
            r = run_double(pair.chans, grid, sides, curves, bidders=labels)
            keys = pair.key_set() if isinstance(pair, LocalPair) else None
    return keys, pair_report(r, "double", labels, named_keys(r, keys))


def named_keys(r: Any, keys: dict[str, Any] | None) -> dict[str, Any] | None:
    """A running pair's keys as its statements name them (the verifier pins the published set)."""
    from mevauction.privacy.client import key_set

    return keys or (key_set([st["signer"] for st in r.statements], [""] * len(r.statements)) if r.ok else None)


def pair_report(r: Any, mechanism: str, labels: list[str], named: dict[str, Any] | None) -> dict[str, Any]:
    """The ``mevauction.sealed/1`` report of a pair's run (``PairResult`` r; labels in the parties' order)."""
    from mevauction.privacy.transcript import build_pair

    winner = labels[r.winner] if r.ok and r.winner is not None else None
    outcome: dict[str, Any] | None = None
    if r.ok:
        outcome = {"winner": winner, "price": r.price, "winners": [labels[i] for i in r.winners]}
        if mechanism == "double":  # each trader's quantity at the price, as decimal strings; never a curve
            outcome["quantities"] = {labels[i]: str(q) for i, q in r.quantities.items()}
    transcript = build_pair(r.auction, mechanism, labels, "ok" if r.ok else "aborted", r.reason, outcome,
                            r.statements, named)
    return {"format": "mevauction.sealed/1", "mechanism": mechanism, "backend": "2pc", "parties": 2,
            "status": "ok" if r.ok else "aborted", **({"reason": r.reason} if not r.ok else {}),
            "winner": winner, "price": r.price if r.ok else None,
            "winners": [labels[i] for i in r.winners] if r.ok else [],
            **({"quantities": outcome["quantities"]} if outcome and "quantities" in outcome else {}),
            "n_bids": len(labels), "elapsed_s": round(r.elapsed_s, 6), "preprocess_s": round(r.preprocess_s, 6),
            "bytes_sent_per_party": max(r.bytes_sent) if r.bytes_sent else None,
            "bytes_sent_by_server": r.bytes_sent, "excluded": [], "rejected": [], "transcript": transcript,
            **({"left_out": r.excluded} if r.excluded else {})}


# -- bidder-side submission (``sealed open|bid|close --backend 2pc``) -------------------

def _remote(parties_file: str | None):
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.twoparty.local import RemotePair

    require(bool(parties_file), "--parties-file", "required with --backend 2pc")
    try:
        return RemotePair(read_json(str(parties_file)))
    except (KeyError, ValueError) as exc:
        require(False, "--parties-file", str(exc))
        raise


def open_direct(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    """Open the auction at both parties; the spec (written for close) carries the registered labels."""
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.twoparty.submit import open_auction

    registered = read_json(args.registered) if args.registered else {}
    require(isinstance(registered, dict), "--registered", "expected a JSON object {label: signer address}")
    spec = {**spec, "backend": "2pc", "registered": registered}
    with _remote(args.parties_file) as pair:
        try:
            open_auction(pair.chans, spec)
        except (ConnectionError, ValueError) as exc:
            require(False, "--parties-file", str(exc))
    return spec


def bid_direct(args: argparse.Namespace, bid: Any) -> Any:
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.twoparty.submit import PairAccess, submit_bid

    require(bool(args.parties_file), "--parties-file", "required with --backend 2pc")
    try:
        access = PairAccess.from_parties(read_json(args.parties_file))
    except (KeyError, ValueError) as exc:
        require(False, "--parties-file", str(exc))
        raise
    signers = None
    if args.committee_keys:
        keys = read_json(args.committee_keys)
        members = keys.get("members") if isinstance(keys, dict) else None
        ok = isinstance(members, list) and len(members) == 2 and all(isinstance(m, dict) and "signer" in m
                                                                     for m in members)
        require(ok, "--committee-keys", "expected the pair's mevauction.committee/1 key set (2 members)")
        signers = [str(m["signer"]) for m in members or []]
    return submit_bid(access, args.auction, bid, signers)


def close_direct(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Any]:
    from mevauction.errors import as_wei
    from mevauction.privacy.twoparty.submit import close_auction

    require(spec.get("backend") == "2pc", "--spec", "not a spec from sealed open --backend 2pc")
    reserve = as_wei(args.reserve, "--reserve")
    require(reserve < 1 << 64, "--reserve", "must be below 2^64")
    with _remote(args.parties_file) as pair:
        r = close_auction(pair.chans, spec, reserve)
    return pair_report(r, str(spec["mechanism"]), r.bidders, named_keys(r, None))
