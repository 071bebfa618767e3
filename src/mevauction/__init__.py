"""mevauction — private, real-time auctions for Ethereum block space.

The package follows the data flow of a slot:

    intake → worlds → building → mechanism → settlement

with ``privacy`` (the sealed-bid MPC committee) and ``preconf`` (preconfirmation
auctions) as their own packages, ``service`` for the real-time HTTP server and
``evaluation`` for benchmarks and workload generators.
"""

__version__ = "0.1.0"
