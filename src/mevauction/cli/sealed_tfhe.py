"""``mevauction sealed run|open|bid|close --backend tfhe --mechanism double``: the double
auction in TFHE between two non-colluding servers (``privacy.tfhe``): a key holder that never
sees a single trader's ciphertext and an evaluator that never holds a decryption key.

``run`` plays every trader from a bids file. ``open`` starts both parties with a trader
intake each and stays in the foreground as the auctioneer (it holds the parties'
processes) until ``close`` (or ``--close-after``) calls the deadline; it writes the spec
traders read (``SPEC``: auction id, grid, the parties' intake addresses, their CA in
``SPEC.ca/``, their receipt keys) and, after the close, ``SPEC.report.json``. ``bid`` runs
on the trader's machine and sends one share to each party; ``close`` signals the ``open``
process (same host and user: the OS authenticates the auctioneer) and prints the report.

Same ``mevauction.bids/1`` input and ``mevauction.sealed/1`` report as the other backends,
with ``"backend": "tfhe"``, each trader's quantity at the clearing price, and the setup
(compile, key generation, key transfer, base OTs) reported apart from deadline → result.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

from mevauction.errors import as_wei, host_port, require


def check(args: Any) -> None:
    require(args.mechanism == "double", "--mechanism", "the tfhe backend runs the double auction only")
    from mevauction.privacy.tfhe.backend import fhe_python

    fhe_python()


def run_double(bids: list[Any], grid: list[int], bits: int) -> dict[str, Any]:
    from mevauction.privacy.tfhe.backend import run

    for i, b in enumerate(bids):
        require(all(v < 1 << bits for v in b.values), f"bids[{i}].curve",
                f"with --backend tfhe the quantities at one price must sum below 2^{bits} (--quantity-bits)")
    labels = [b.bidder for b in bids]
    with Console(stderr=True).status(f"sealed double auction: {len(bids)} orders × {len(grid)} levels, "
                                     "TFHE key holder + evaluator…"):
        r = run([b.side for b in bids], [list(b.values) for b in bids], bits)
    return report(r, labels, grid, bits)


def report(r: Any, labels: list[str], grid: list[int], bits: int) -> dict[str, Any]:
    """The ``mevauction.sealed/1`` report of a ``TfheResult`` (``labels``: the traders it indexes)."""
    k, e = r.keyholder, r.evaluator
    circuits = e.get("circuits", {})
    return {"format": "mevauction.sealed/1", "mechanism": "double", "backend": "tfhe", "parties": 2,
            "status": "ok" if r.ok else "aborted", **({"reason": r.reason} if not r.ok else {}),
            "winner": None, "price": grid[r.level] if r.ok and r.level is not None else None,
            "winners": [labels[i] for i in sorted(r.quantities)],
            "quantities": {labels[i]: q for i, q in sorted(r.quantities.items())},
            "n_bids": len(labels), "levels": len(grid), "quantity_bits": bits,
            "elapsed_s": round(r.elapsed_s, 6), "preprocess_s": round(r.setup_s, 6),
            "compile_s": e.get("compile_s"), "keygen_s": k.get("keygen_s"),
            "after_deadline_s": {"keyholder": k.get("after_deadline", {}).get("wall_s"),
                                 "evaluator": e.get("after_deadline", {}).get("wall_s")},
            "evaluation_key_bytes": k.get("evaluation_key_bytes"),
            "input_ciphertext_bytes": k.get("input_bytes"),
            "bootstraps": {name: c.get("bootstraps") for name, c in circuits.items()},
            "bytes_sent_per_party": max(k.get("bytes_sent", 0), e.get("bytes_sent", 0)) or None,
            "bytes_sent_by_server": [k.get("bytes_sent"), e.get("bytes_sent")],
            "excluded": [{"bidder": labels[i], "reason": why} for i, why in sorted(r.rejected.items())],
            "rejected": [], "transcript": transcript(r, grid) if r.statements or not r.ok else None}


def transcript(r: Any, grid: list[int]) -> dict[str, Any] | None:
    """A running pair's transcript: both parties' signed statements (``sealed verify``)."""
    from mevauction.privacy.client import key_set
    from mevauction.privacy.tfhe.outcome import signed_outcome
    from mevauction.privacy.transcript import build_pair

    out = signed_outcome([str(p) for p in grid], r.level, r.quantities, r.bidders) if r.ok else None
    named = key_set([st["signer"] for st in r.statements], [""] * len(r.statements)) if r.ok else None
    return build_pair(r.auction, "double", r.bidders, "ok" if r.ok else "aborted", r.reason or "", out,
                      r.statements, named, backend="tfhe")


SPEC_FORMAT = "mevauction.tfhe-auction/1"


# -- a running pair: `sealed party init|pair|serve --backend tfhe` ----------------------

def register_party(psub: Any) -> None:
    i = psub.add_parser("init", help="tfhe: make a party's own signing key and TLS identity, write its public entry")
    i.add_argument("--role", required=True, choices=("keyholder", "evaluator", "K", "E"))
    i.add_argument("--key-file", required=True, help="the signing key (made if absent); the TLS key and the public "
                                                     "entry go beside it (KEY.tls.crt/.key, KEY.public.json)")
    i.add_argument("--control", required=True, metavar="HOST:PORT", help="where the auctioneer connects")
    i.add_argument("--intake", required=True, metavar="HOST:PORT", help="where traders send their shares")
    i.add_argument("--link", metavar="HOST:PORT", help="evaluator: where the key holder connects")
    i.set_defaults(func=init)
    c = psub.add_parser("pair", help="tfhe: the parties file (mevauction.tfhe-parties/1) from the two public entries")
    c.add_argument("keyholder", help="the key holder's KEY.public.json")
    c.add_argument("evaluator", help="the evaluator's KEY.public.json")
    c.add_argument("--out", default="-", help="where to write it (default stdout)")
    c.set_defaults(func=pair_file)


def _role(name: str) -> int:
    return 0 if name in ("keyholder", "K") else 1


def init(args: Any) -> int:
    from mevauction.privacy.tfhe import pair

    role = _role(args.role)
    require(role == 1 or args.link is None, "--link", "only the evaluator listens for the key holder")
    require(role == 0 or args.link is not None, "--link", "required for the evaluator")
    try:
        addrs = [host_port(v, n) for v, n in ((args.control, "--control"), (args.intake, "--intake"))]
        link = host_port(args.link, "--link") if args.link else None
        entry = pair.init(role, args.key_file, addrs[0], addrs[1], link)
    except ValueError as exc:
        require(False, str(exc).split(":")[0], str(exc).split(": ", 1)[-1])
        raise
    Console(stderr=True).print(f"{pair.ROLES[role]} {entry.signer}: publish {args.key_file}.public.json "
                               "(keep the key files to yourself)")
    return 0


def pair_file(args: Any) -> int:
    from mevauction.cli.output import write_json
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.tfhe import pair

    try:
        write_json(pair.parties_doc(read_json(args.keyholder), read_json(args.evaluator)), args.out)
    except ValueError as exc:
        require(False, "entries", str(exc))
    return 0


def serve(args: Any) -> int:
    """Replace this process by the party in ``.venv-fhe`` (same pid: the operator's signals reach it)."""
    from mevauction.eth import fields
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.tfhe import pair
    from mevauction.privacy.tfhe.backend import SRC, fhe_python

    require(args.role in ("keyholder", "evaluator", "K", "E"), "--role", "tfhe: K (keyholder) or E (evaluator)")
    require(bool(args.parties_file), "--parties-file", "required with --backend tfhe")
    require(bool(args.control_key), "--control-key", "required with --backend tfhe: the auctioneer's address")
    controller = fields.address(args.control_key, "--control-key")
    require(args.close_timeout > 0, "--close-timeout", "must be positive")
    role = _role(args.role)
    try:
        me = pair.parties(read_json(args.parties_file))[role]
        key = pair.load_signing_key(args.key_file)
    except ValueError as exc:
        require(False, "--parties-file", str(exc))
    from mevauction.privacy import messages

    require(me.signer == messages.address(key), "--key-file",
            f"not the {pair.ROLES[role]}'s key in the parties file")
    python = fhe_python()
    state = args.state or args.key_file + ".intake.sqlite"
    argv = [str(python), "-m", "mevauction.privacy.tfhe.served", "--role", pair.ROLES[role], "--key-file",
            args.key_file, "--parties-file", args.parties_file, "--control-key", controller, "--state", state,
            "--timeout", str(args.close_timeout)]
    os.execve(str(python), argv, {**os.environ, "PYTHONPATH": str(SRC), "PYTHONWARNINGS": "ignore"})
    return 0


def open_direct(args: Any) -> int:
    from mevauction.cli.output import write_json
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.tfhe.backend import TfheAuction, fhe_python

    require(bool(args.grid), "--grid", "required with --backend tfhe: the public price levels")
    grid = [as_wei(p.strip(), "--grid") for p in str(args.grid).split(",") if p.strip()]
    require(grid == sorted(set(grid)), "--grid", "prices must be distinct and ascending")
    require(args.close_after > 0, "--close-after", "must be positive")
    registered = read_json(args.registered) if args.registered else {}
    require(isinstance(registered, dict), "--registered", "expected a JSON object {label: signer address}")
    spec = {"format": SPEC_FORMAT, "backend": "tfhe", "mechanism": "double", "grid": [str(p) for p in grid],
            "quantity_bits": args.quantity_bits, "max_bids": args.max_bids, "registered": registered}
    if args.parties_file:  # a running pair: open at both and return; `sealed close` calls the deadline
        import secrets

        spec = {**spec, "auction": "0x" + secrets.token_hex(16), "served": True}
        try:
            _served(args).open(spec["auction"], grid, args.quantity_bits, args.max_bids, registered)
        except ValueError as exc:
            require(False, "--parties-file", str(exc))
        write_json(spec, args.spec)
        print(spec["auction"], flush=True)
        return 0
    fhe_python()
    spec_path = Path(args.spec)
    closing = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: closing.set())  # ``sealed close``
    with TfheAuction(len(grid), args.quantity_bits, args.max_bids, registered) as auction:
        ca = spec_path.with_name(spec_path.name + ".ca")  # the CA only: what a trader pins
        (ca / ".config").mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(auction.access.tls_dir) / ".config" / "mpyc_ca.crt", ca / ".config" / "mpyc_ca.crt")
        (k_host, k_port), (e_host, e_port) = auction.access.intake
        spec = {**spec, "auction": auction.auction, "keyholder_intake": f"{k_host}:{k_port}",
                "evaluator_intake": f"{e_host}:{e_port}", "tls_dir": str(ca), "signers": auction.signers,
                "pid": os.getpid()}
        write_json(spec, args.spec)
        print(auction.auction, flush=True)
        closing.wait(args.close_after)
        r = auction.close()
    out = report(r, r.bidders, grid, args.quantity_bits)
    write_json(out, str(spec_path) + ".report.json")
    return 0 if r.ok else 1


def _spec(path: str | None, flag: str) -> dict[str, Any]:
    from mevauction.intake.scenario import read_json

    require(bool(path), flag, "required with --backend tfhe: the spec `sealed open --backend tfhe` wrote")
    spec = read_json(str(path))
    require(isinstance(spec, dict) and spec.get("format") == SPEC_FORMAT, flag, f"expected {SPEC_FORMAT!r}")
    return spec


def _served(args: Any) -> Any:
    """The running pair of ``--parties-file``, with the auctioneer's ``--control-key-file``."""
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.messages import key_from_hex
    from mevauction.privacy.tfhe.remote import ServedPair

    require(bool(args.control_key_file), "--control-key-file",
            "required with a running pair: the parties take control requests signed by the auctioneer's key only")
    key = key_from_hex(Path(args.control_key_file).read_text().strip(), "--control-key-file")
    try:
        return ServedPair(read_json(args.parties_file), key)
    except ValueError as exc:
        require(False, "--parties-file", str(exc))


def _pair_doc(path: str | None) -> dict[str, Any] | None:
    """The parties file, if ``path`` is one (else it is a local `sealed open`'s spec)."""
    from mevauction.intake.scenario import read_json
    from mevauction.privacy.tfhe import pair

    doc = read_json(str(path)) if path else None
    return doc if isinstance(doc, dict) and doc.get("format") == pair.FORMAT else None


def bid_direct(args: Any, key: bytes) -> Any:
    from mevauction.privacy.tfhe.trader import submit_curve
    from mevauction.privacy.twoparty.submit import PairAccess

    pair_doc = _pair_doc(args.parties_file)
    spec = _spec(args.spec if pair_doc is not None else args.parties_file,
                 "--spec" if pair_doc is not None else "--parties-file")
    require(args.auction == spec["auction"], "--auction", "not the auction of --parties-file")
    require(args.side is not None, "--side", "required with --backend tfhe")
    grid, bits = [int(p) for p in spec["grid"]], int(spec["quantity_bits"])
    try:
        steps = json.loads(args.curve or "")
    except ValueError:
        steps = None
    require(isinstance(steps, list) and bool(steps), "--curve", "expected JSON [[price, quantity], ...]")
    inc = [0] * len(grid)
    for j, step in enumerate(steps):
        require(isinstance(step, list) and len(step) == 2, f"--curve[{j}]", "expected [price, quantity]")
        price, qty = as_wei(step[0], f"--curve[{j}][0]"), as_wei(step[1], f"--curve[{j}][1]")
        require(price in grid, f"--curve[{j}][0]", "not a price of the auction's grid")
        inc[grid.index(price)] += qty
    require(all(v < 1 << bits for v in inc), "--curve", f"quantities at one price must sum below 2^{bits}")
    if pair_doc is not None:  # a running pair: its published certificates and signers are pinned
        from mevauction.privacy.tfhe import pair

        try:
            k, e = pair.parties(pair_doc)
        except ValueError as exc:
            require(False, "--parties-file", str(exc))
        access, signers = PairAccess((k.intake, e.intake), pins=(k.tls_cert, e.tls_cert)), [k.signer, e.signer]
    else:
        access = PairAccess((host_port(spec["keyholder_intake"], "keyholder_intake"),
                             host_port(spec["evaluator_intake"], "evaluator_intake")), str(spec["tls_dir"]))
        signers = list(spec["signers"])
    return submit_curve(access, spec["auction"], args.side, inc, bits, key, args.bidder, signers)


def close_direct(args: Any, spec: dict[str, Any]) -> dict[str, Any]:
    import time

    from mevauction.intake.scenario import read_json

    require(spec.get("format") == SPEC_FORMAT, "--spec", "not a spec from sealed open --backend tfhe")
    if spec.get("served"):
        require(bool(args.parties_file), "--parties-file", "required: the running pair the auction was opened on")
        r = _served(args).close(str(spec["auction"]))
        r.auction = str(spec["auction"])
        return report(r, r.bidders, [int(p) for p in spec["grid"]], int(spec["quantity_bits"]))
    done = Path(str(args.spec) + ".report.json")
    try:
        os.kill(int(spec["pid"]), signal.SIGUSR1)
    except (ProcessLookupError, PermissionError):
        require(done.is_file(), "--spec", "its `sealed open` process is gone and left no report")
    for _ in range(6000):  # the parties run the auction: seconds at most for a small market
        if done.is_file():
            out = read_json(str(done))
            return out if isinstance(out, dict) else {}
        time.sleep(0.1)
    require(False, "--spec", "no report from the `sealed open` process after 600 s")
    return {}
