# pragma version ~=0.4.3
"""
@title A Uniswap-V2-style constant-product pair
@notice Optimistic transfer-out, then the invariant check on balances net of the
        0.3% fee: (b0 * 1000 - in0 * 3) * (b1 * 1000 - in1 * 3) >= r0 * r1 * 1000^2.
        Liquidity is provided by transferring tokens in and calling sync (no LP
        shares: the auction workloads only trade against the pools).
"""
from ethereum.ercs import IERC20

event Swap:
    sender: indexed(address)
    amount0_in: uint256
    amount1_in: uint256
    amount0_out: uint256
    amount1_out: uint256
    to: indexed(address)

event Sync:
    reserve0: uint256
    reserve1: uint256

token0: public(address)
token1: public(address)
reserve0: public(uint256)
reserve1: public(uint256)


@deploy
def __init__(_token0: address, _token1: address):
    self.token0 = _token0
    self.token1 = _token1


@external
@view
def getReserves() -> (uint256, uint256):
    return self.reserve0, self.reserve1


@external
def sync():
    self.reserve0 = staticcall IERC20(self.token0).balanceOf(self)
    self.reserve1 = staticcall IERC20(self.token1).balanceOf(self)
    log Sync(reserve0=self.reserve0, reserve1=self.reserve1)


@external
def swap(amount0_out: uint256, amount1_out: uint256, to: address):
    assert amount0_out > 0 or amount1_out > 0, "insufficient output"
    r0: uint256 = self.reserve0
    r1: uint256 = self.reserve1
    assert amount0_out < r0 and amount1_out < r1, "insufficient liquidity"
    if amount0_out > 0:
        assert extcall IERC20(self.token0).transfer(to, amount0_out)
    if amount1_out > 0:
        assert extcall IERC20(self.token1).transfer(to, amount1_out)
    b0: uint256 = staticcall IERC20(self.token0).balanceOf(self)
    b1: uint256 = staticcall IERC20(self.token1).balanceOf(self)
    in0: uint256 = 0
    in1: uint256 = 0
    if b0 > r0 - amount0_out:
        in0 = b0 - (r0 - amount0_out)
    if b1 > r1 - amount1_out:
        in1 = b1 - (r1 - amount1_out)
    assert in0 > 0 or in1 > 0, "insufficient input"
    assert (b0 * 1000 - in0 * 3) * (b1 * 1000 - in1 * 3) >= r0 * r1 * 1000000, "K"
    self.reserve0 = b0
    self.reserve1 = b1
    log Swap(sender=msg.sender, amount0_in=in0, amount1_in=in1, amount0_out=amount0_out, amount1_out=amount1_out, to=to)
    log Sync(reserve0=b0, reserve1=b1)
