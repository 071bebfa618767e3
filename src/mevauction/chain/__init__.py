"""A real chain under the auction: a devnet node (anvil) and its JSON-RPC.

Everything that talks to a node lives here, below the worlds (the evm world forks a
node's state) and above the Ethereum primitives. ``tools`` finds the pinned binaries
and contract artifacts that ``scripts/setup.sh`` installs, ``rpc`` is the JSON-RPC
client, ``node`` starts and stops an embedded anvil.
"""
