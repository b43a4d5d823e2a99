"""Exercise 07: encrypt a short message directly under the ImportedCMK, with a context.

How to use it: try the exercise first. Then, in an empty cell of notebook 07 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex07_direct import solve
    my_blob = solve(ws)
    check_direct_encryption(my_blob)

or type `%load solutions/ex07_direct.py` in an empty cell to paste the code in and read it.
"""

from workshop_helpers import names


def solve(ws):
    kms = ws.client("kms")
    response = kms.encrypt(
        KeyId=names.key_alias(),                                         # "alias/ImportedCMK"
        Plaintext=b"The answer is 42",
        EncryptionContext={"project": "kmsworkshop", "purpose": "exercise"},
    )
    return response["CiphertextBlob"]
