# pragma version ~=0.4.3
"""
@title A one-hop swap router
@notice Users approve the router once; a swap pulls the input into the pair and
        asks for the constant-product output with the 0.3% fee, reverting when it
        is below the user's minimum (slippage protection makes a user's swap
        state-dependent: it may revert after a front-runner moved the price).
"""
from ethereum.ercs import IERC20


interface IPair:
    def token0() -> address: view
    def reserve0() -> uint256: view
    def reserve1() -> uint256: view
    def swap(amount0_out: uint256, amount1_out: uint256, to: address): nonpayable


@external
def swap(pair: address, token_in: address, amount_in: uint256, min_out: uint256, to: address) -> uint256:
    p: IPair = IPair(pair)
    zero_for_one: bool = token_in == staticcall p.token0()
    reserve_in: uint256 = staticcall p.reserve0()
    reserve_out: uint256 = staticcall p.reserve1()
    if not zero_for_one:
        reserve_in = staticcall p.reserve1()
        reserve_out = staticcall p.reserve0()
    amount_out: uint256 = amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)
    assert amount_out >= min_out, "slippage"
    assert extcall IERC20(token_in).transferFrom(msg.sender, pair, amount_in)
    if zero_for_one:
        extcall p.swap(0, amount_out, to)
    else:
        extcall p.swap(amount_out, 0, to)
    return amount_out
