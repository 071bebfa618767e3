"""Gas charged as a block would, against hand-computed values."""

from conftest import BASE_FEE, ETHER, GWEI, address_of, scenario, signed, user_key
from mevauction.eth.transactions import LEGACY
from mevauction.worlds.evm.world import from_scenario

PAYEE = "0x" + "ab" * 20


def _world(genesis, raws, **kw):
    return from_scenario(scenario(genesis, [{"id": f"o{i}", "raw_txs": [r]} for i, r in enumerate(raws)], **kw))


def test_eip1559_transfer_fees_by_hand(genesis):
    raw = signed(user_key(0), PAYEE, value=3 * ETHER, gas=50_000, tip=2 * GWEI)
    world = _world(genesis, [raw])
    sender = address_of(user_key(0))
    ex = world.executor
    before = genesis.accounts[sender].balance
    cur = world.cursor()
    out = cur.push("o0")
    assert out.success and out.gas_used == 21_000
    assert out.bid == 21_000 * 2 * GWEI  # priority fee to the fee recipient
    assert ex.balance(world.block.coinbase) == 21_000 * 2 * GWEI
    assert ex.balance(sender) == before - 3 * ETHER - 21_000 * (BASE_FEE + 2 * GWEI)  # base fee burned
    assert ex.balance(PAYEE) == 3 * ETHER
    cur.pop()
    assert ex.balance(sender) == before and ex.balance(PAYEE) == 0


def test_fee_cap_limits_the_tip(genesis):
    # max fee = base + 0.5 gwei < base + tip: the recipient gets only 0.5 gwei per gas.
    raw = signed(user_key(1), PAYEE, value=1, gas=21_000, tip=3 * GWEI, max_fee=BASE_FEE + GWEI // 2)
    out = _world(genesis, [raw]).cursor().push("o0")
    assert out.bid == 21_000 * (GWEI // 2)


def test_legacy_gas_price_above_base_fee_is_tip(genesis):
    raw = signed(user_key(2), PAYEE, value=1, gas=21_000, tx_type=LEGACY, tip=0, max_fee=BASE_FEE + 4 * GWEI)
    out = _world(genesis, [raw]).cursor().push("o0")
    assert out.bid == 21_000 * 4 * GWEI


def test_invalid_transactions_have_no_effect(genesis):
    raws = [
        signed(user_key(0), PAYEE, nonce=3, value=1),                       # nonce gap
        signed(user_key(0), PAYEE, value=10**9 * ETHER),                    # cannot pay
        signed(user_key(0), PAYEE, value=1, tip=0, max_fee=BASE_FEE - 1),   # below base fee
        signed(user_key(0), PAYEE, value=1, chain_id=5),                    # other chain
        signed(user_key(0), PAYEE, value=1, gas=20_000),                    # below intrinsic gas
    ]
    world = _world(genesis, raws)
    reasons = [world.top[f"o{i}"].error for i in range(len(raws))]
    assert "nonce 3 but sender's next nonce is 0" in reasons[0]
    assert "insufficient funds" in reasons[1]
    assert "below base fee" in reasons[2]
    assert "chain id 5" in reasons[3]
    assert "intrinsic gas" in reasons[4]
    cur = world.cursor()
    for i in range(len(raws)):
        out = cur.push(f"o{i}")
        assert not out.success and out.bid == 0
    assert world.executor.balance(world.block.coinbase) == 0


def test_nonces_chain_within_a_block_and_unwind_on_pop(genesis):
    first = signed(user_key(3), PAYEE, nonce=0, value=1)
    second = signed(user_key(3), PAYEE, nonce=1, value=1)
    world = _world(genesis, [first, second])
    assert not world.top["o1"].success  # nonce 1 needs nonce 0 first
    cur = world.cursor()
    assert cur.push("o0").success and cur.push("o1").success
    cur.pop()
    cur.pop()
    assert not cur.push("o1").success
