"""An ``eth_sendBundle`` as the service turns it into an evm order: the bundle's
``droppingTxHashes`` and ``revertingTxHashes`` reach the world and are honoured there; an
evm ``mev_sendOrder`` is held to the same transaction rules."""

import pytest
from test_evm_bundles import PAYEE, swap_raw, transfer_raw, tx_hash

from conftest import CHAIN_ID, scenario, signed, user_key
from mevauction.errors import InputError
from mevauction.service.intake import IntakeRules, bundle_scenario_order, parse_bundle, parse_order
from mevauction.worlds.evm.world import from_scenario

RULES = IntakeRules(chain_id=CHAIN_ID)


def service_order(genesis, **params) -> dict:
    doc = scenario(genesis, [])
    item, txs = parse_bundle([{"blockNumber": "0x1", **params}], RULES)
    return bundle_scenario_order(item, txs, doc["world"])


def test_dropping_and_reverting_hashes_of_a_sent_bundle_are_honoured(genesis):
    good = transfer_raw(genesis, 0, PAYEE)
    gap = transfer_raw(genesis, 2, PAYEE, nonce=7)  # its nonce is not next: invalid
    bad = swap_raw(genesis, 1, 10**18, min_out=10**40)  # reverts
    dropping = service_order(genesis, txs=[gap, good], droppingTxHashes=[tx_hash(gap)])
    strict = service_order(genesis, txs=[gap, good])
    reverting = {**service_order(genesis, txs=[good, bad], revertingTxHashes=[tx_hash(bad)]), "id": "rev"}
    world = from_scenario(scenario(genesis, [dropping, {**strict, "id": "strict"}, reverting]))
    kept = world.top[dropping["id"]]
    assert kept.success and [t.status for t in kept.txs] == ["invalid", "ok"]
    assert not world.top["strict"].success  # without the hash listed the bundle fails whole
    assert world.top["rev"].success and world.top["rev"].txs[1].status == "reverted"


def test_an_evm_order_is_held_to_the_bundle_rules_and_admitted_by_its_transactions_gas(genesis):
    world = scenario(genesis, [])["world"]
    good, other = transfer_raw(genesis, 0, PAYEE), signed_for_chain(genesis, CHAIN_ID + 1)
    item = parse_order([{"order": {"id": "o", "raw_txs": [good], "gas": 21_000}}], world, rules=RULES)
    assert item.scenario_order["gas"] == 100_000  # the transaction's gas limit, not the declared 21,000
    with pytest.raises(InputError) as caught:
        parse_order([{"order": {"id": "x", "raw_txs": [other]}}], world, rules=RULES)
    assert caught.value.field == "order.raw_txs[0]" and "chain id" in caught.value.message


def signed_for_chain(genesis, chain_id: int) -> str:
    return signed(user_key(3), PAYEE, chain_id=chain_id, gas=21_000)
