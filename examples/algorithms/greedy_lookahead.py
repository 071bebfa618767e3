"""Greedy with one step of lookahead (a reference builder algorithm).

At every step it tries the K most promising orders on top of the block; for each it
also tries the K best follow-ups, and keeps the order whose best two-step gain is
largest. Plain greedy takes the best single payer and can block a pair that pays
more together (a backrun after its victim, two swaps that only fit one way round).

On a sealed service (``slot.sealed``) ``mevalgo.run`` seals the bid in the jail for the
committee; the search stops earlier to leave time for it.
"""

import mevalgo

K = 4  # candidates per step, and follow-ups per candidate


def build(slot, sim):
    ids = [o.id for o in slot.orders]
    by_id = slot.by_id()
    gain = {o.id: o.alone.bid if o.alone.success else 0 for o in slot.orders}  # alone at the top
    block, value, used_txs = [], 0, set()
    reserve = 0.25 if slot.sealed is not None else 0.1  # seconds kept for sealing and submitting
    left = [i for i in ids if gain[i] > 0]
    while left and not slot.nearly_out(sim, reserve):
        left.sort(key=lambda i: -gain[i])
        best, best_two, best_first = None, 0, 0
        for oid in left[:K]:
            if slot.nearly_out(sim, reserve):
                break
            first = sim.push(oid)
            if not first.success:
                sim.pop()
                gain[oid] = 0
                continue
            gain[oid] = first.bid
            follow = 0
            mine = set(by_id[oid].txs)
            for nxt in left[:K + 1]:
                if nxt == oid or mine & set(by_id[nxt].txs):
                    continue
                out = sim.push(nxt)
                sim.pop()
                if out.success:
                    follow = max(follow, out.bid)
            sim.pop()
            if first.bid + follow > best_two:
                best, best_two, best_first = oid, first.bid + follow, first.bid
        if best is None:
            break
        sim.push(best)
        block.append(best)
        value += best_first
        used_txs |= set(by_id[best].txs)
        left = [i for i in left if i != best and not used_txs & set(by_id[i].txs) and gain[i] > 0]
    return block, "truthful"


if __name__ == "__main__":
    mevalgo.run(build)
