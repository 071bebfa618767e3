"""Sealed bids: an MPC committee that reveals only the winner and the price (privacy-preserving auctions paper).

Bidders Shamir-share their bids to a committee of m servers (default 3, threshold 1)
which computes the auction with MPyC and opens only the outcome. Modules:

- ``field``: the committee's prime field and Shamir sharing as bidders do it;
- ``messages``: signed bid headers, hash commitments, share commitments;
- ``protocol``: the secure primitives (multiplication, comparison) with preprocessing;
- ``mechanisms``: the auction functions over secret-shared bids, and their clear twins;
- ``server`` / ``client``: the committee process and the coordinator/bidder side;
- ``transcript``: the verifiable record checked offline by ``mevauction sealed verify``;
- ``builder_auction``: the Boost+ builders' auction (second price with secret reserve).
"""
