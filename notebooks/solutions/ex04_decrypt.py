"""Exercises 04: decrypt notebook 03's envelope file; name the error of each mistake.

In the notebook:  my_text = solve(ws)  and  my_answers = ANSWERS
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
