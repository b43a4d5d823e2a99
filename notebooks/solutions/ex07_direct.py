"""Exercise 07: encrypt a short message directly under the ImportedCMK, with a context.

In the notebook:  my_blob = solve(ws)
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
