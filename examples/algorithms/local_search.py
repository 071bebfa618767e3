"""Local search over whole blocks (a reference builder algorithm).

Start from the orders sorted by what each pays alone, then improve the block with
moves evaluated by simulating the whole sequence: swap two conflicting orders,
move one earlier, drop one, or add a left-out one. It keeps any move that raises
the block's value and stops when no move helps or the budget is nearly spent.
"""

import random

import mevalgo


def value_of(sim, seq):
    outs, value = sim.simulate(seq)
    return [o.id for o in outs if o.success], value


def build(slot, sim):
    rng = random.Random(0)
    by_id = slot.by_id()
    alone = {o.id: o.alone.bid if o.alone.success else 0 for o in slot.orders}  # alone at the top
    order = sorted(alone, key=lambda i: -alone[i])
    pool = [i for i in order if alone[i] > 0]
    block, best = value_of(sim, pool)
    stale = 0
    while not slot.nearly_out(sim, 0.15) and stale < 200:
        cand = list(block)
        move = rng.randrange(4)
        if move == 0 and len(cand) >= 2:  # swap two orders that conflict
            a = rng.randrange(len(cand))
            partners = [b for b in range(len(cand)) if b != a and by_id[cand[a]].conflicts_with(by_id[cand[b]])]
            if not partners:
                stale += 1
                continue
            b = rng.choice(partners)
            cand[a], cand[b] = cand[b], cand[a]
        elif move == 1 and len(cand) >= 2:  # move one order earlier
            a = rng.randrange(1, len(cand))
            cand.insert(rng.randrange(a), cand.pop(a))
        elif move == 2 and cand:  # drop one order
            cand.pop(rng.randrange(len(cand)))
        else:  # add a left-out order somewhere
            out = [i for i in pool if i not in cand]
            if not out:
                stale += 1
                continue
            cand.insert(rng.randrange(len(cand) + 1), rng.choice(out))
        kept, value = value_of(sim, cand)
        if value > best:
            block, best, stale = kept, value, 0
        else:
            stale += 1
    return block, best


if __name__ == "__main__":
    mevalgo.run(build)
