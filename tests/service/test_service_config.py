"""Configuration precedence, the slot clock across restarts, and schema migrations."""

import pytest

from mevauction.errors import InputError
from mevauction.service.clock import SlotClock, resume_clock
from mevauction.service.config import builder_deposits, builder_flags, load_config
from mevauction.service.migrations import LATEST, MIGRATIONS
from mevauction.service.store import connect, migrate, schema_version


def test_flags_beat_env_beat_toml(tmp_path):
    toml = tmp_path / "serve.toml"
    toml.write_text('[serve]\nport = 9000\nslot-seconds = 6\nworld = "table"\nrate_per_signer = 10\n')
    env = {"MEVAUCTION_SLOT_SECONDS": "3", "MEVAUCTION_RATE_PER_SIGNER": "20"}
    config = load_config({"port": 9100, "db": None}, str(toml), env)
    assert (config.port, config.slot_seconds, config.rate_per_signer) == (9100, 3.0, 20.0)


@pytest.mark.parametrize("text,field", [("bogus = 1\n", "config.bogus"), ("port = 'x'\n", "config.port")])
def test_bad_toml_names_the_key(tmp_path, text, field):
    toml = tmp_path / "bad.toml"
    toml.write_text(text)
    with pytest.raises(InputError) as info:
        load_config({}, str(toml), {})
    assert info.value.field == field


def test_bad_world_and_env_values_are_one_line_errors():
    with pytest.raises(InputError, match="world"):
        load_config({"world": "/no/such/world.json"}, None, {})
    with pytest.raises(InputError, match="MEVAUCTION_SLOT_SECONDS"):
        load_config({}, None, {"MEVAUCTION_SLOT_SECONDS": "-1"})


A, B = "0x" + "ab" * 20, "0x" + "cd" * 20


@pytest.mark.parametrize("flags,field", [
    ({"sealed": True, "sealed_backend": "3pc"}, "sealed_backend"),
    ({"sealed_backend": "2pc"}, "sealed_backend"),  # a backend without --sealed
    ({"sealed": True, "sealed_backend": "mpc", "sealed_parties_file": "pair.json"}, "sealed_parties_file"),
    ({"sealed": True, "sealed_backend": "2pc", "sealed_parties_file": "/no/such/pair.json"}, "sealed_parties_file"),
])
def test_a_bad_sealed_backend_names_the_field(flags, field):
    pytest.importorskip("mevauction.privacy.builder_auction")
    with pytest.raises(InputError) as info:
        load_config(flags, None, {})
    assert info.value.field == field


@pytest.mark.parametrize("doc,field", [
    ("{", "sealed_parties_file"), ('{"format": "other"}', "sealed_parties_file"),
    ('{"format": "mevauction.2pc-parties/1", "garbler": "nohost"}', "sealed_parties_file.garbler"),
    ('{"format": "mevauction.2pc-parties/1", "garbler": "h:1", "evaluator": "h:2", "tls_dir": "/nowhere"}',
     "sealed_parties_file.tls_dir"),
])
def test_a_bad_parties_file_names_the_field(tmp_path, doc, field):
    pytest.importorskip("mevauction.privacy.builder_auction")
    path = tmp_path / "pair.json"
    path.write_text(doc)
    with pytest.raises(InputError) as info:
        load_config({"sealed": True, "sealed_backend": "2pc", "sealed_parties_file": str(path)}, None, {})
    assert info.value.field == field


def test_the_builder_registry_from_flags_toml_and_env(tmp_path):
    toml = tmp_path / "serve.toml"
    toml.write_text(f'[serve.builders]\n"{A.upper().replace("0X", "0x")}" = "1000000000000000000000"\n')
    assert builder_deposits(load_config({}, str(toml), {})) == {A: 10**21}
    env = {"MEVAUCTION_BUILDERS": f'{{"{B}": 5}}'}
    assert builder_deposits(load_config({}, str(toml), env)) == {B: 5}
    flags = {"builders": builder_flags([f"{A}=7", f"{B}=0x10"])}
    assert builder_deposits(load_config(flags, str(toml), env)) == {A: 7, B: 16}


@pytest.mark.parametrize("values,field", [
    (["0xab"], "--builder"), ([f"{A}="], "--builder"), ([f"{A}=1", f"{A.upper().replace('0X', '0x')}=2"], "--builder"),
    (["0x12=5"], "builders.0x12"), ([f"{A}=-1"], f"builders.{A}"), ([f"{A}=1e3"], f"builders.{A}"),
])
def test_a_bad_builder_registration_names_the_field(values, field):
    with pytest.raises(InputError) as info:
        load_config({"builders": builder_flags(values)}, None, {})
    assert info.value.field == field


def test_clock_resumes_and_never_reuses_a_slot_when_the_length_changes():
    old = SlotClock(1000.0, 12.0)
    now = 1000.0 + 12.0 * 50 + 5  # inside slot 50
    assert resume_clock(1000.0, 12.0, 12.0, now) == old
    faster = resume_clock(1000.0, 12.0, 2.0, now)
    assert faster.slot_at(now) == 51 and faster.slot_seconds == 2.0
    fresh = resume_clock(None, None, 4.0, now)
    assert fresh.slot_at(now) == 0 and fresh.deadline(0) == now + 4.0


def test_migrations_apply_once(tmp_path):
    db = connect(f"sqlite:///{tmp_path / 'm.db'}")
    assert migrate(db) == [v for v, _, _ in MIGRATIONS]
    assert migrate(db) == [] and schema_version(db) == LATEST
    with pytest.raises(InputError, match="file path"):
        connect("sqlite:///:memory:")
