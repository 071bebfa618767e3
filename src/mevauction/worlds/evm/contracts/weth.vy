# pragma version ~=0.4.3
"""
@title Wrapped ether
@notice An ERC-20 backed one-to-one by the ether it holds: deposit wraps, withdraw
        unwraps.
"""

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
decimals: public(uint8)


@deploy
def __init__():
    self.decimals = 18


@external
@payable
def deposit():
    self.balanceOf[msg.sender] += msg.value
    log Transfer(sender=empty(address), receiver=msg.sender, value=msg.value)


@external
def withdraw(amount: uint256):
    self.balanceOf[msg.sender] -= amount
    log Transfer(sender=msg.sender, receiver=empty(address), value=amount)
    send(msg.sender, amount)


@external
@view
def totalSupply() -> uint256:
    return self.balance


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=msg.sender, receiver=receiver, value=amount)
    return True


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    self.allowance[sender][msg.sender] -= amount
    self.balanceOf[sender] -= amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
