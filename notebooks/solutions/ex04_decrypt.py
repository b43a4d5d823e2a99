"""Exercises 04: decrypt notebook 03's envelope file; name the error of each mistake.

How to use it: try the exercise first. Then, in an empty cell of notebook 04 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex04_decrypt import ANSWERS, solve
    my_text = solve(ws)
    check_recovered_secret(my_text)
    my_answers = ANSWERS
    check_refusals(my_answers)

or type `%load solutions/ex04_decrypt.py` in an empty cell to paste the code in and read it.
"""

from workshop_helpers import envelope, fixtures

ANSWERS = {
    "wrong context": "InvalidCiphertextException",   # KMS: the context is bound to the blob
    "wrong key": "IncorrectKeyException",            # KMS: KeyId names another key
    "tampered envelope": "AuthenticationError",      # AES-GCM: a tag did not verify
}


def solve(ws):
    path = fixtures.workshop_data_dir() / "samplesecret.txt.envelope"
    plaintext = envelope.decrypt_bytes(
        path.read_bytes(),
        encryption_context={"project": "workshop"},
        key_id=fixtures.ensure_imported_cmk(ws).arn,   # the key must be named: strict, as the SDK's
        kms_client=ws.client("kms"),
    )
    return plaintext.decode("utf-8")
