"""Exercise 01: where the ImportedCMK's key material came from, and whether it expires.

In the notebook:  origin, expiration_model = solve(ws)
"""

from workshop_helpers import names


def solve(ws):
    kms = ws.client("kms")
    metadata = kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]   # "alias/ImportedCMK"
    return metadata["Origin"], metadata["ExpirationModel"]
