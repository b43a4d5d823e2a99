"""Exercise 02: a 128-bit data key under alias/ImportedCMK with two context pairs.

In the notebook:  my_response = solve(ws)
"""

from workshop_helpers import names


def solve(ws):
    kms = ws.client("kms")
    return kms.generate_data_key(
        KeyId=names.key_alias(),          # "alias/ImportedCMK"
        KeySpec="AES_128",                # 128 bits; NumberOfBytes=16 works too
        EncryptionContext={"project": "workshop", "team": "blue"},
    )
