"""A two-party (garbler/evaluator) backend for the sealed auctions: semi-honest Yao.

Free-XOR + half-gates garbling (Zahur–Rosulek–Evans 2015) with a fixed-key AES hash,
Chou–Orlandi base OT and IKNP OT extension, bids XOR-shared between the two parties.
"""
