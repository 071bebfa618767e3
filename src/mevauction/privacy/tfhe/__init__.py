"""A TFHE double auction that traders seal without holding any key (issue 16 § 3).

concrete-python has no public-key and no threshold decryption, so the trust is split
between two servers that must not collude:

- the **key holder** K generates the circuits' keys, keeps the secret key and hands the
  evaluator only evaluation keys; it sees its own random shares and the outputs it decrypts;
- the **evaluator** E compiles and runs the circuits; it sees its own random shares and
  ciphertexts, never a key that decrypts.

A trader XOR-splits every bit of its per-level increments (``shares``): one share to K,
one to E, no key at all. K encrypts its shares; E combines each ciphertext bit with its
clear bit homomorphically (a ⊕ b = b + a·(1 − 2b), leveled), and finds the clearing
level by a binary search over the grid: each step one TFHE comparison of demand and
supply that K decrypts (each bit follows from the clearing level); then K decrypts the
supply at that level and, if it is positive, each trader's quantity — nothing else.

Modules: ``shares`` (the trader's split and the parties' share checks; plain Python),
``wire`` (framing), ``circuit`` and ``party`` (run in ``.venv-fhe``, where concrete
lives), ``backend`` (the auctioneer side in the main venv: starts both parties).
"""
