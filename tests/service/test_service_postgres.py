"""The service on PostgreSQL: a throwaway local cluster (skipped when none can be started)."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from service_harness import ServerProcess, free_port

from mevauction.client import Client, Signer

PG_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None) \
    if Path("/usr/lib/postgresql").exists() else None


def as_postgres(args: list[str]) -> list[str]:
    """Run as the 'postgres' user when we are root (the server refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def postgres():
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries not installed (apt-get install -y postgresql)")
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no 'postgres' user to run the server as")
    # Outside pytest's 0700 tmp tree, so that the 'postgres' user can reach it.
    tmp_path = Path(tempfile.mkdtemp(prefix="mevauction-pg-"))
    if os.geteuid() == 0:
        shutil.chown(tmp_path, pw.pw_uid, pw.pw_gid)
    data, port = tmp_path / "pgdata", free_port()
    subprocess.run(as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(tmp_path / "pg.log"),
                                "-o", f"-p {port} -k {tmp_path} -c listen_addresses=127.0.0.1 -c fsync=on",
                                "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
def test_service_on_postgres_settles_and_survives_kill(postgres):
    server = ServerProcess(postgres, slot_seconds=1.0).start()
    try:
        with Client(server.url, Signer.random()) as c:
            slot = c.slot()["slot"] + 2
            c.send_order(
                {"id": "o1", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 40, "after": {"o2": 100}}}, slot
            )
            c.send_order(
                {"id": "o2", "reads": ["k1"], "writes": ["k1"], "bid": {"default": 50, "after": {"o1": 80}}}, slot
            )
        server.kill9()
        server = ServerProcess(postgres, slot_seconds=1.0).start()
        with Client(server.url) as reader:
            report = reader.wait_report(slot, timeout=20)
            assert report["proposer"] == "30" and report["block"] == ["o2", "o1"]
            assert reader.order("o2")["status"] == "included"
            assert reader.payload_delivered(slot=slot)[0]["value"] == "30"
    finally:
        server.stop()


@pytest.mark.slow
def test_postgres_schema_is_the_schema_module(postgres):
    from test_service_storage import declared, shape

    from mevauction.service.store import connect, migrate

    db = connect(postgres)
    migrate(db)
    db.conn.close()
    assert shape(postgres.replace("postgresql://", "postgresql+psycopg://")) == declared()
