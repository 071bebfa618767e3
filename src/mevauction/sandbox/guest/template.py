"""A builder algorithm for mevauction (protocol mevauction.algorithm/1).

Run it on a generated slot:   mevauction algorithm check THIS_FILE
Name it in a scenario:        {"id": "me", "script": "THIS_FILE"}

It runs jailed: no network, no files but Python's standard library and `mevalgo`,
a wall-clock budget (slot.time_left()), limits on CPU, memory and processes.

On a sealed service (slot.sealed is not None) mevalgo.run seals the bid inside the
jail for the committee, which takes about 0.1 s: keep that much of the budget.
"""

import mevalgo


def build(slot, sim):
    # Each order alone on the parent state: what it pays at the top of the block. The
    # host computed it once for every algorithm (order.alone), so no budget goes on it.
    alone = {order.id: order.alone.bid for order in slot.orders if order.alone.success}
    # Greedy: best payer first; keep an order only if it still succeeds and pays.
    block, value = [], 0
    reserve = 0.2 if slot.sealed is not None else 0.05  # seconds kept for sealing and submitting
    for oid in sorted(alone, key=lambda i: -alone[i]):
        if slot.nearly_out(sim, reserve):  # the reserve, plus two of the slowest request so far
            break
        out = sim.push(oid)
        if out.success and out.bid > 0:
            block.append(oid)
            value += out.bid
        else:
            sim.pop()
    # Bid the block's value ("truthful"), or any integer amount of wei. Sealed, an amount
    # you choose never reaches the service (a truthful bid is the value it computes anyway).
    return block, value


if __name__ == "__main__":
    mevalgo.run(build)
