"""TLS material for the committee: the links between servers (MPyC ``--ssl``) and intake.

MPyC reads ``.config/party_<i>.crt``/``.key`` and ``.config/mpyc_ca.crt`` from the
working directory and checks that peer i's certificate names ``MPyC party <i>``. For a
local committee a throw-away CA and one certificate per server are made with the
``openssl`` command; a real deployment gives each operator its own key and a shared CA.
The intake port serves TLS with the same certificate, and the coordinator checks it
against the CA and the server's index, so it talks to the pinned servers only.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path


def make_certificates(directory: Path, parties: int, days: int = 2) -> Path:
    """Write a CA and m server certificates under ``directory/.config``; returns ``directory``."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("TLS between servers needs the openssl command")
    config = directory / ".config"
    config.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=config, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "mpyc_ca.key", "-out", "mpyc_ca.crt",
        "-days", str(days), "-subj", "/CN=mevauction committee CA")
    for i in range(parties):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"party_{i}.key", "-out", f"party_{i}.csr",
            "-subj", f"/CN=MPyC party {i}")
        run("x509", "-req", "-in", f"party_{i}.csr", "-CA", "mpyc_ca.crt", "-CAkey", "mpyc_ca.key",
            "-CAcreateserial", "-out", f"party_{i}.crt", "-days", str(days))
    return directory


# -- the intake port: TLS with the same certificates --------------------------------------

def server_context(directory: str, index: int) -> ssl.SSLContext:
    """Server i's TLS context for its intake port (its MPyC certificate and key)."""
    config = Path(directory) / ".config"
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(config / f"party_{index}.crt", config / f"party_{index}.key")
    return ctx


def client_context(directory: str) -> ssl.SSLContext:
    """A client context that trusts only the committee's CA (the pinned key set)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(Path(directory) / ".config" / "mpyc_ca.crt"))
    ctx.check_hostname = False  # servers are named by index in their certificate, not by host
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def check_peer(ssl_object: object, index: int) -> None:
    """Refuse a TLS peer whose certificate is not the one of committee server ``index``."""
    cert = ssl_object.getpeercert() if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket) else None
    names = [str(pair[1]) for rdn in (cert or {}).get("subject", ()) for pair in rdn if pair[0] == "commonName"]
    if names != [f"MPyC party {index}"]:
        raise ConnectionError(f"committee server {index} presented a certificate for {names or 'nobody'}")


# -- a link between two parties: both ends show their certificate -------------------------

def mutual_server_context(directory: str, index: int) -> ssl.SSLContext:
    """Party ``index`` accepting a peer that must show a certificate from the same CA."""
    ctx = server_context(directory, index)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(Path(directory) / ".config" / "mpyc_ca.crt"))
    return ctx


def mutual_client_context(directory: str, index: int) -> ssl.SSLContext:
    """Party ``index`` connecting to a pinned peer, showing its own certificate."""
    ctx = client_context(directory)
    config = Path(directory) / ".config"
    ctx.load_cert_chain(config / f"party_{index}.crt", config / f"party_{index}.key")
    return ctx
