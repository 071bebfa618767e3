# pragma version ~=0.4.3
"""
@title The project's searcher contract for real Uniswap V2 pairs
@notice Owned by one searcher EOA. Trades directly against UniswapV2Pair
        (getReserves/token0/swap) with WETH it holds, and pays a share of its
        realised WETH profit to block.coinbase in ether from its own ether
        balance (unwrapping WETH would write WETH's ether balance and make every
        paying searcher conflict on it).
        - arb: buy the token on one WETH pair and sell it on another, sized for
          maximal profit (backrun when bundled right after a victim's swap);
        - front / back: the two legs of a sandwich around a victim's swap; front
          records the WETH balance, back sells everything bought and pays
          share_bps of the WETH gained since front.
        A non-empty required_coinbase makes a call a no-op under any other fee
        recipient (the integration trick of the Boost+ paper, Remark 1).
"""
from ethereum.ercs import IERC20


interface IPair:
    def token0() -> address: view
    def getReserves() -> (uint112, uint112, uint32): view
    def swap(amount0Out: uint256, amount1Out: uint256, to: address, data: Bytes[32]): nonpayable


owner: public(address)
weth: public(address)
mark: public(uint256)


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
    r0: uint112 = 0
    r1: uint112 = 0
    t: uint32 = 0
    r0, r1, t = staticcall IPair(pair).getReserves()
    if staticcall IPair(pair).token0() == self.weth:
        return convert(r0, uint256), convert(r1, uint256), True
    return convert(r1, uint256), convert(r0, uint256), False


@internal
@pure
def _amount_out(amount_in: uint256, reserve_in: uint256, reserve_out: uint256) -> uint256:
    return amount_in * 997 * reserve_out // (reserve_in * 1000 + amount_in * 997)


@internal
def _swap(pair: address, out: uint256, out_is_token0: bool, to: address):
    if out_is_token0:
        extcall IPair(pair).swap(out, 0, to, b"")
    else:
        extcall IPair(pair).swap(0, out, to, b"")


@internal
def _pay(gain: uint256, share_bps: uint256):
    payment: uint256 = gain * share_bps // 10000
    if payment > 0:
        send(block.coinbase, payment)


@internal
@view
def _skip(required_coinbase: address) -> bool:
    return required_coinbase != empty(address) and block.coinbase != required_coinbase


@external
def arb(pair_buy: address, pair_sell: address, share_bps: uint256, required_coinbase: address):
    assert msg.sender == self.owner, "only owner"
    if self._skip(required_coinbase):
        return
    aw: uint256 = 0
    ax: uint256 = 0
    a_weth0: bool = False
    bw: uint256 = 0
    bx: uint256 = 0
    b_weth0: bool = False
    aw, ax, a_weth0 = self._reserves(pair_buy)
    bw, bx, b_weth0 = self._reserves(pair_sell)
    # Two swaps compose into one constant-product curve with virtual reserves
    # e_in = aw*bx/D, e_out = f*ax*bw/D, D = bx + f*ax, f = 0.997; the profit
    # is maximal at (sqrt(f*e_in*e_out) - e_in) / f.
    d: uint256 = bx * 1000 + ax * 997
    e_in: uint256 = aw * bx * 1000 // d
    e_out: uint256 = ax * bw * 997 // d
    root: uint256 = isqrt(e_in * e_out * 997 // 1000)
    assert root > e_in, "no profit"
    before: uint256 = staticcall IERC20(self.weth).balanceOf(self)
    size: uint256 = min((root - e_in) * 1000 // 997, before)
    x_out: uint256 = self._amount_out(size, aw, ax)
    assert extcall IERC20(self.weth).transfer(pair_buy, size)
    self._swap(pair_buy, x_out, not a_weth0, pair_sell)
    w_out: uint256 = self._amount_out(x_out, bx, bw)
    self._swap(pair_sell, w_out, b_weth0, self)
    after: uint256 = staticcall IERC20(self.weth).balanceOf(self)
    assert after > before, "no profit"
    self._pay(after - before, share_bps)


@external
def front(pair: address, token: address, weth_in: uint256, min_out: uint256, required_coinbase: address):
    """Sandwich front leg: buy the token with weth_in WETH (at least min_out)."""
    assert msg.sender == self.owner, "only owner"
    if self._skip(required_coinbase):
        return
    w: uint256 = 0
    x: uint256 = 0
    weth0: bool = False
    w, x, weth0 = self._reserves(pair)
    self.mark = staticcall IERC20(self.weth).balanceOf(self)
    out: uint256 = self._amount_out(weth_in, w, x)
    assert out >= min_out, "front slippage"
    assert extcall IERC20(self.weth).transfer(pair, weth_in)
    self._swap(pair, out, not weth0, self)


@external
def back(pair: address, token: address, share_bps: uint256, required_coinbase: address):
    """Sandwich back leg: sell every token held, pay share_bps of the WETH gained since front."""
    assert msg.sender == self.owner, "only owner"
    if self._skip(required_coinbase):
        return
    w: uint256 = 0
    x: uint256 = 0
    weth0: bool = False
    w, x, weth0 = self._reserves(pair)
    held: uint256 = staticcall IERC20(token).balanceOf(self)
    assert held > 0, "nothing bought"
    out: uint256 = self._amount_out(held, x, w)
    assert extcall IERC20(token).transfer(pair, held)
    self._swap(pair, out, weth0, self)
    after: uint256 = staticcall IERC20(self.weth).balanceOf(self)
    assert after > self.mark, "no profit"
    self._pay(after - self.mark, share_bps)
    self.mark = 0
