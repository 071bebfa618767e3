"""TLS material for the links between committee servers (MPyC ``--ssl``).

MPyC reads ``.config/party_<i>.crt``/``.key`` and ``.config/mpyc_ca.crt`` from the
working directory and checks that peer i's certificate names ``MPyC party <i>``. For a
local committee a throw-away CA and one certificate per server are made with the
``openssl`` command; a real deployment gives each operator its own key and a shared CA.
"""

from __future__ import annotations

import shutil
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
