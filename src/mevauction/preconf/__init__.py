"""Preconfirmation auctions on mev-commit's message formats (preconfirmation-auctions paper, issue 6).

Messages and digests: :mod:`.messages`, :mod:`.hashing`, :mod:`.keys`, :mod:`.nike`;
payment rules: :mod:`.decay`, :mod:`.settlement`, :mod:`.deposits`; provider side:
:mod:`.knapsack` (the pure decision rule), :mod:`.policy`, :mod:`.params`,
:mod:`.provider`, :mod:`.evidence`; bidder side: :mod:`.strategy`; market
simulation: :mod:`.market`, :mod:`.plots`.
"""
