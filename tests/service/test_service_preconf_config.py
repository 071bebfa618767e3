"""The ``preconf_*`` settings: checked by load_config without building the provider."""

import subprocess
import sys

import pytest

from mevauction.errors import InputError
from mevauction.eth.secp256k1 import N as SECP256K1_N
from mevauction.preconf.keys import Signer
from mevauction.preconf.nike import GROUP_R
from mevauction.service.config import ServiceConfig, load_config, preconf_deposits
from mevauction.service.preconf import provider_from_config
from repo_paths import SRC

KEY = "0x" + "11" * 32
CONTRACT = "0x" + "ab" * 20
BIDDER = Signer.from_label("bidder").address


def preconf(**settings) -> dict:
    return {"preconf_key": KEY, "preconf_contract": CONTRACT, **settings}


def test_good_settings_load_and_build_the_provider_they_describe():
    config = load_config(preconf(preconf_deposits={BIDDER: "1000"}, preconf_final_ms=300), None, {})
    signer, nike_secret, params = provider_from_config(config)
    assert signer.address == Signer(KEY).address and 0 < nike_secret < GROUP_R
    assert params.contract == CONTRACT and params.final_offset == 300 and params.mode == "continuous"


def test_loading_a_config_builds_no_provider():
    # Validation parses and checks values only: the provider module is not even imported.
    code = ("import sys; from mevauction.service.config import load_config; "
            f"load_config({preconf()!r}, None, {{}}); "
            "print('mevauction.service.preconf' in sys.modules, 'mevauction.preconf.provider' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC)}).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("settings,field", [
    ({"preconf_key": "0x1234"}, "preconf_key"),
    ({"preconf_key": "zz" * 32}, "preconf_key"),
    ({"preconf_key": "00" * 32}, "preconf_key"),
    ({"preconf_key": f"{SECP256K1_N:064x}"}, "preconf_key"),
    ({"preconf_contract": ""}, "preconf_contract"),
    ({"preconf_mode": "sometimes"}, "preconf_mode"),
    ({"preconf_nike_key": "0xnope"}, "preconf_nike_key"),
    ({"preconf_nike_key": hex(GROUP_R)}, "preconf_nike_key"),
    ({"preconf_final_ms": 1 << 40}, "preconf_final_ms"),
    ({"preconf_deposits": {"0x1234": 5}}, "preconf_deposits.0x1234"),
    ({"preconf_deposits": {BIDDER: -5}}, f"preconf_deposits.{BIDDER}"),
])
def test_a_bad_setting_is_refused_naming_it(settings, field):
    with pytest.raises(InputError) as info:
        load_config(preconf(**settings), None, {})
    assert info.value.field == field


def test_a_config_made_in_code_is_checked_when_the_provider_is_built():
    with pytest.raises(InputError) as info:
        provider_from_config(ServiceConfig(preconf_key=KEY, preconf_contract=CONTRACT, preconf_mode="sometimes"))
    assert info.value.field == "preconf_mode"


def test_deposits_are_keyed_by_checksummed_address_and_spellings_add_up():
    config = ServiceConfig(preconf_deposits={BIDDER.lower(): 7, BIDDER.upper().replace("0X", "0x"): "0x3"})
    assert preconf_deposits(config) == {BIDDER: 10}
