"""Exercise 02: a 128-bit data key under alias/ImportedCMK with two context pairs.

How to use it: try the exercise first. Then, in an empty cell of notebook 02 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex02_data_key import solve
    my_response = solve(ws)
    check_data_key_exercise(my_response)

or type `%load solutions/ex02_data_key.py` in an empty cell to paste the code in and read it.
"""

from workshop_helpers import names


def solve(ws):
    kms = ws.client("kms")
    return kms.generate_data_key(
        KeyId=names.key_alias(),          # "alias/ImportedCMK"
        KeySpec="AES_128",                # 128 bits; NumberOfBytes=16 works too
        EncryptionContext={"project": "workshop", "team": "blue"},
    )
