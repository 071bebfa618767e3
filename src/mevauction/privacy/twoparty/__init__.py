"""A two-party (garbler/evaluator) backend for the sealed auctions: semi-honest Yao.

Free-XOR + half-gates garbling (Zahur–Rosulek–Evans 2015) with a fixed-key AES hash,
Chou–Orlandi base OT and IKNP OT extension, bids XOR-shared between the two parties.
"""

import os

# A party's one BLAS call is the binding sketch (``binding.sketch``); on a loaded machine
# OpenBLAS's threads make it 3-15x slower, so a party process keeps it on one thread. Set
# before numpy loads in a party process (``python -m ...party``, ``sealed party serve``).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
