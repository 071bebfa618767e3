# pragma version ~=0.4.3
"""
@title A blind-arbitrage searcher contract (Boost+ paper, Example 1)
@notice Reads both pools' reserves, computes the profit-maximising trade size,
        buys the token where it is cheap and sells it where it is dear, measures
        revenue as the increase of its WETH balance, reverts if there is none, and
        pays share_bps / 10000 of it to block.coinbase in ether from the contract's
        own ether (not by unwrapping WETH: every unwrap would write WETH's balance
        and make all paying searchers conflict). The same call
        backruns a victim swap when placed right after it in a bundle.
        With required_coinbase set, the call is a no-op under any other fee
        recipient (the integration trick of the Boost+ paper, Remark 1).
"""
from ethereum.ercs import IERC20


interface IPair:
    def token0() -> address: view
    def reserve0() -> uint256: view
    def reserve1() -> uint256: view
    def swap(amount0_out: uint256, amount1_out: uint256, to: address): nonpayable


owner: public(address)
weth: public(address)


@deploy
def __init__(_weth: address):
    self.owner = msg.sender
    self.weth = _weth


@external
@payable
def __default__():
    pass


@internal
@view
def _reserves(pair: address) -> (uint256, uint256, bool):
    """(WETH reserve, token reserve, whether WETH is token0)."""
    r0: uint256 = staticcall IPair(pair).reserve0()
    r1: uint256 = staticcall IPair(pair).reserve1()
    if staticcall IPair(pair).token0() == self.weth:
        return r0, r1, True
    return r1, r0, False


@internal
@pure
def _amount_out(amount_in: uint256, reserve_in: uint256, reserve_out: uint256) -> uint256:
    return amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)


@internal
def _swap(pair: address, out: uint256, out_is_token0: bool, to: address):
    if out_is_token0:
        extcall IPair(pair).swap(out, 0, to)
    else:
        extcall IPair(pair).swap(0, out, to)


@external
def arb(pair_buy: address, pair_sell: address, share_bps: uint256, required_coinbase: address):
    assert msg.sender == self.owner, "only owner"
    if required_coinbase != empty(address) and block.coinbase != required_coinbase:
        return
    aw: uint256 = 0
    ax: uint256 = 0
    a_weth0: bool = False
    bw: uint256 = 0
    bx: uint256 = 0
    b_weth0: bool = False
    aw, ax, a_weth0 = self._reserves(pair_buy)
    bw, bx, b_weth0 = self._reserves(pair_sell)
    # The two swaps compose into one constant-product curve with virtual
    # reserves e_in = aw*bx/D, e_out = f*ax*bw/D, D = bx + f*ax, f = 0.997;
    # profit is maximal at (sqrt(f*e_in*e_out) - e_in) / f.
    d: uint256 = bx * 1000 + ax * 997
    e_in: uint256 = aw * bx * 1000 // d
    e_out: uint256 = ax * bw * 997 // d
    root: uint256 = isqrt(e_in * e_out * 997 // 1000)
    assert root > e_in, "no profit"
    size: uint256 = min((root - e_in) * 1000 // 997, staticcall IERC20(self.weth).balanceOf(self))
    before: uint256 = staticcall IERC20(self.weth).balanceOf(self)
    x_out: uint256 = self._amount_out(size, aw, ax)
    assert extcall IERC20(self.weth).transfer(pair_buy, size)
    self._swap(pair_buy, x_out, not a_weth0, pair_sell)
    w_out: uint256 = self._amount_out(x_out, bx, bw)
    self._swap(pair_sell, w_out, b_weth0, self)
    after: uint256 = staticcall IERC20(self.weth).balanceOf(self)
    assert after > before, "no profit"
    payment: uint256 = (after - before) * share_bps // 10000
    if payment > 0:
        send(block.coinbase, payment)
