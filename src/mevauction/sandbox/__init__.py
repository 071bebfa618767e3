"""Submitted builder algorithms, run isolated (Boost+ stage 2, seed 004 § 3).

A builder's algorithm is untrusted code that runs on the slot's private order flow
M \\ S. It talks to the auction only through the simulation protocol
(``mevauction.algorithm/1``, :mod:`.protocol`): it gets the orders, executes
sequences on the slot's world (the same world, and so the same one-time fee
recipient, as the default algorithm), and returns a sequence and its bid.

- :mod:`.protocol` — the host's side of the protocol on one world;
- :mod:`.jail` — the Python runtime: a bubblewrap jail with rlimits;
- :mod:`.runner` — every algorithm of a slot in parallel within one budget.

The mechanism (``mevauction.mechanism.builders``) then checks each output like any
builder block (permutation-only) and never waits past the budget.
"""
