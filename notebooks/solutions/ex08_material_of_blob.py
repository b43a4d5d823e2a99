"""Exercise 08 (rotation): which key material made a blob, and is it the current one?

How to use it: try the exercise first. Then, in an empty cell of notebook 08 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex08_material_of_blob import solve
    my_material_id, my_is_current = solve(ws, old_blob)
    check_material_of_blob(old_blob, my_material_id, my_is_current)

or type `%load solutions/ex08_material_of_blob.py` in an empty cell to paste the code in and read it.
"""

from workshop_helpers import names


def solve(ws, blob):
    kms = ws.client("kms")
    # Decrypt names the material it used; the plaintext itself is not needed here
    made_by = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"purpose": "rotation"})["KeyMaterialId"]
    current = kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]["CurrentKeyMaterialId"]  # "alias/ImportedCMK"
    return made_by, made_by == current
