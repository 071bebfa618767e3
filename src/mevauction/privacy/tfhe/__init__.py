"""A TFHE double auction that traders seal without holding any key (issue 16 § 3).

concrete-python has no public-key and no threshold decryption, so the trust is split
between two servers that must not collude:

- the **key holder** K generates the comparison circuit's keys, keeps the secret key and
  hands the evaluator only evaluation keys; it sees its own random shares, what the
  conversion's OTs send it, and the outputs it decrypts or opens;
- the **evaluator** E compiles and runs the circuit; it sees its own random shares, K's
  ciphertexts and OT corrections, never a key that decrypts.

A trader XOR-splits every bit of its per-level increments (``shares``): one share to K,
one to E, no key at all, and any pair of bits is a valid order. After the deadline one
OT per bit turns the bits into additive shares mod 2^64 (``convert``), each server sums
its own in the clear (demand − supply and supply per level, each trader's quantity per
level), and the clearing level is found by a binary search over the grid whose every
step is one TFHE comparison (``circuit``): K encrypts its share of demand − supply at the
probed level in 2-bit digits, E adds its clear digits and propagates the carry, K
decrypts the bit (each follows from the clearing level). Then E opens to K its share of
the supply at that level and, if it is positive, of each trader's quantity — nothing else.

Modules: ``shares`` (the trader's split and the parties' share checks; plain Python),
``convert`` (OT conversion and the sums; numpy), ``wire`` (framing), ``circuit``,
``intake`` (each party's TLS intake for traders' own shares) and ``party`` (run in
``.venv-fhe``, where concrete lives), ``backend`` (the auctioneer side in the main venv:
starts both parties; ``run`` pipes the shares, ``TfheAuction`` lets traders send them) and
``trader`` (a trader seals and submits its own curve; main venv). A pair run by two
operators: ``pair`` (each party's own identity and the published parties file; both
venvs), ``served`` (one long-lived party in ``.venv-fhe``: control, intake, link, a
session per auction running ``party``'s steps), ``remote`` (the auctioneer's signed
control of it; main venv) and ``outcome`` (the trade rule and the statement each party
signs; both venvs).
"""
