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


# -- pinned identities: each party's own key and self-signed certificate ------------------
# A party that runs on its own (``sealed party serve --backend tfhe``) makes its TLS key
# itself and publishes the certificate; whoever talks to it trusts that one certificate
# and no CA, so nobody else (the auctioneer included) can issue a certificate that passes.

def make_identity(crt: Path, key: Path, name: str, days: int = 3650) -> None:
    """A fresh P-256 key (mode 0600) and a self-signed certificate for it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("a party's TLS identity needs the openssl command")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", str(days), "-subj", f"/CN={name}"],
                   check=True, capture_output=True)
    key.chmod(0o600)


def _pin(ctx: ssl.SSLContext, peer_pem: str) -> None:
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=peer_pem)  # the peer's own certificate is the only anchor


def pinned_server_context(crt: Path, key: Path, peer_pem: str | None = None) -> ssl.SSLContext:
    """Serve with this party's certificate; with ``peer_pem`` the client must show that one."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(crt, key)
    if peer_pem is not None:
        _pin(ctx, peer_pem)
    return ctx


def pinned_client_context(peer_pem: str, own: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """Connect to the party whose certificate is ``peer_pem`` (showing ``own`` (crt, key) if given)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # the certificate itself is pinned, not a name
    _pin(ctx, peer_pem)
    if own is not None:
        ctx.load_cert_chain(*own)
    return ctx


def check_pinned(sock: ssl.SSLSocket | ssl.SSLObject, peer_pem: str, who: str) -> None:
    """Refuse a peer whose certificate is not byte for byte the pinned one (a certificate
    merely signed by the pinned key, which a self-signed CA certificate would allow, fails)."""
    if sock.getpeercert(binary_form=True) != ssl.PEM_cert_to_DER_cert(peer_pem):
        raise ConnectionError(f"the {who} showed another certificate than its published one")
