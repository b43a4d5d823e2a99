"""Exercise 03: b"attack at dawn" sealed by hand with AES-GCM under the data key.

How to use it: try the exercise first. Then, in an empty cell of notebook 03 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex03_hand_encryption import solve
    my_sealed = solve(exercise_key)
    check_hand_encryption(my_sealed, exercise_key)

or type `%load solutions/ex03_hand_encryption.py` in an empty cell to paste the code in and read it.
"""

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def solve(data_key):
    nonce = os.urandom(12)                                   # fresh for every message
    return nonce + AESGCM(data_key).encrypt(nonce, b"attack at dawn", None)
