"""Exercise 03: b"attack at dawn" sealed by hand with AES-GCM under the data key.

In the notebook:  my_sealed = solve(exercise_key)
"""

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def solve(data_key):
    nonce = os.urandom(12)                                   # fresh for every message
    return nonce + AESGCM(data_key).encrypt(nonce, b"attack at dawn", None)
