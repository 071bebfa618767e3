"""The real artifacts as installed: Router02's hard-coded pair init-code hash is the v2-core pair's."""

from mevauction.chain import contracts
from mevauction.chain.deploy import create2_pair, create_address


def test_router02_pair_hash_is_keccak_of_the_v2_core_pair_creation_code():
    assert contracts.pair_init_code_hash().hex() == "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
    assert contracts.router_pair_hash_matches()
    assert contracts.npm("UniswapV2Pair").initcode in contracts.npm("UniswapV2Factory").initcode


def test_addresses_follow_create_and_create2():
    # anvil's first dev account deploying at nonce 0 (a well-known devnet address).
    dev0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert create_address(dev0, 0) == "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    # Mainnet's USDC/WETH Uniswap V2 pair, from the factory and the two tokens.
    assert create2_pair("0x5c69bee701ef814a2b6a3edd4b1652cb9cc5aa6f", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
                        "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2") == "0xb4e16d0168e52d35cacd2c6185b44281ec28c9dc"
