"""A TFHE pair run by two operators: each party's own identity and the published parties file.

Each operator makes its party's identity once (``sealed party init``): a secp256k1 signing
key (``KEY``, the receipts and the signed outcome; address in ``KEY.signer.address``) and a
TLS key with a self-signed certificate (``KEY.tls.key`` / ``KEY.tls.crt``), and publishes
its entry (``KEY.public.json``): role, control and intake addresses (E also its link
address for K), signer address and certificate. The two entries make the parties file
(``mevauction.tfhe-parties/1``) that K, E, the auctioneer and every trader pin: a
connection is accepted only from or to the certificate published for that role, and a
receipt or an outcome only under the published signer — no CA, so no one (the auctioneer
included) can issue an identity that passes. Plain Python: both venvs import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mevauction.errors import host_port
from mevauction.privacy import messages, tls

FORMAT = "mevauction.tfhe-parties/1"
ROLES = ("keyholder", "evaluator")  # index 0 K, 1 E, as in the traders' share hashes


@dataclass(frozen=True)
class Entry:
    role: int
    control: tuple[str, int]
    intake: tuple[str, int]
    link: tuple[str, int] | None  # E: where K connects for each auction
    signer: str
    tls_cert: str  # PEM

    def to_json(self) -> dict[str, Any]:
        addr = lambda a: None if a is None else f"{a[0]}:{a[1]}"
        return {"role": ROLES[self.role], "control": addr(self.control), "intake": addr(self.intake),
                "link": addr(self.link), "signer": self.signer, "tls_cert": self.tls_cert}


def tls_paths(key_file: str | Path) -> tuple[Path, Path]:
    """(certificate, TLS key) beside the signing key file."""
    return Path(f"{key_file}.tls.crt"), Path(f"{key_file}.tls.key")


def load_signing_key(key_file: str | Path) -> bytes:
    f = Path(key_file)
    if not f.is_file():
        raise ValueError(f"{key_file}: no such key file (make it with sealed party init)")
    return messages.key_from_hex(f.read_text().strip(), "--key-file")


def init(role: int, key_file: str, control: tuple[str, int], intake: tuple[str, int],
         link: tuple[str, int] | None) -> Entry:
    """Make (or keep) the party's keys and write its public entry, ``KEY.public.json``."""
    f = Path(key_file)
    if not f.exists():
        f.touch(mode=0o600)
        f.write_text(messages.new_key().hex())
    key = load_signing_key(f)
    Path(f"{key_file}.signer.address").write_text(messages.address(key))
    crt, tkey = tls_paths(f)
    if not crt.is_file() or not tkey.is_file():
        tls.make_identity(crt, tkey, f"mevauction tfhe {ROLES[role]}")  # the certificate itself is pinned
    entry = Entry(role, control, intake, link, messages.address(key), crt.read_text())
    Path(f"{key_file}.public.json").write_text(json.dumps(entry.to_json(), indent=1))
    return entry


def entry(doc: object, role: int) -> Entry:
    """One party's published entry, checked."""
    name = ROLES[role]
    if not isinstance(doc, dict) or doc.get("role") != name:
        raise ValueError(f"{name}: expected the {name}'s entry")
    signer, pem = str(doc.get("signer", "")), doc.get("tls_cert")
    if not messages.is_address(signer):
        raise ValueError(f"{name}.signer: expected an address")
    if not isinstance(pem, str) or "BEGIN CERTIFICATE" not in pem:
        raise ValueError(f"{name}.tls_cert: expected a PEM certificate")
    link = host_port(doc.get("link"), f"{name}.link") if role == 1 else None
    return Entry(role, host_port(doc.get("control"), f"{name}.control"), host_port(doc.get("intake"), f"{name}.intake"),
                 link, signer.lower(), pem)


def parties(doc: object) -> tuple[Entry, Entry]:
    """(K, E) from a ``mevauction.tfhe-parties/1`` document; ValueError naming the field."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"format: expected {FORMAT!r}")
    return entry(doc.get("keyholder"), 0), entry(doc.get("evaluator"), 1)


def parties_doc(k: dict[str, Any], e: dict[str, Any]) -> dict[str, Any]:
    """The parties file from the two published entries (checked)."""
    entry(k, 0), entry(e, 1)
    return {"format": FORMAT, "keyholder": k, "evaluator": e}
