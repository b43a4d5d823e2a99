"""Exercise 01: where the ImportedCMK's key material came from, and whether it expires.

How to use it: try the exercise first. Then, in an empty cell of notebook 01 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex01_key_origin import solve
    origin, expiration_model = solve(ws)
    check_key_origin(origin, expiration_model)

or type `%load solutions/ex01_key_origin.py` in an empty cell to paste the code in and read it.
"""

from workshop_helpers import names


def solve(ws):
    kms = ws.client("kms")
    metadata = kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]   # "alias/ImportedCMK"
    return metadata["Origin"], metadata["ExpirationModel"]
