"""The auction's block on a real chain: delivery and verification.

``plan`` turns a slot's report into the exact block to mine (the orders' signed
transactions in the decided order, then the settlement transactions signed by the
slot's one-time coinbase), ``mine`` makes a node mine exactly that block and checks it,
``verify`` re-derives every payment from the chain's own data and compares it with
the published report. Above ``settlement`` (it reads reports) and ``chain`` (it talks
to a node); the service records deliveries, the CLI verifies.
"""
