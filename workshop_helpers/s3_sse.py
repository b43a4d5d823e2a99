"""S3 server-side encryption with KMS (SSE-KMS): the bucket, and S3's KMS calls simulated.

On AWS, PutObject with ``ServerSideEncryption="aws:kms"`` makes S3 call KMS: GenerateDataKey
under the object's key, with the encryption context ``{"aws:s3:arn": <object ARN>}`` (the
bucket's ARN instead when an S3 Bucket Key is enabled); S3 encrypts the object with the
plaintext data key, discards it, and stores the encrypted data key with the object.
GetObject makes S3 call Decrypt with the same context.

moto records the SSE-KMS headers and answers with them, but makes no KMS call and keeps the
object's bytes in plaintext in memory. `after_put_object` and `after_get_object` make S3's
KMS calls against the same KMS backend, inside `audit.acting_as("s3.amazonaws.com")`, so the
trail shows them labelled ``s3.amazonaws.com (simulated)``; they do not change what moto
stores. On the aws backend they do nothing: the real S3 made the calls, visible in CloudTrail.

With an S3 Bucket Key, real S3 reuses one bucket-level key for many objects and calls KMS
far less often; the simulation calls GenerateDataKey once per bucket and Decrypt once per
read, which is only an approximation of that caching.

The encrypted data key S3 keeps with an object is kept with the account (on moto with the
account on disk), so a GetObject in another kernel makes S3's Decrypt too.
"""

from __future__ import annotations

import base64
import threading

from . import audit, names
from .account import records_store
from .errors import aws_error_code

S3_SERVICE = "s3.amazonaws.com"
CONTEXT_KEY = "aws:s3:arn"

_lock = threading.Lock()
# (bucket, key) -> (key ARN, encryption context, encrypted data key)
_objects: dict[tuple[str, str], tuple[str, dict, bytes]] = {}
_bucket_keys: dict[str, tuple[str, dict, bytes]] = {}


_RECORD_KIND = "s3-object"


def _keep(bucket: str, key: str, kept: tuple[str, dict, bytes]) -> None:
    store = records_store()
    if store is not None:
        store.put_record(
            _RECORD_KIND,
            f"{bucket}/{key}",
            {"key_arn": kept[0], "context": kept[1], "blob": base64.b64encode(kept[2]).decode()},
        )


def _kept(bucket: str, key: str) -> tuple[str, dict, bytes] | None:
    store = records_store()
    data = store.records(_RECORD_KIND).get(f"{bucket}/{key}") if store is not None else None
    return (data["key_arn"], dict(data["context"]), base64.b64decode(data["blob"])) if data else None


def simulation_active(ws) -> bool:
    return ws.backend != "aws"


def ensure_bucket(ws) -> str:
    """The workshop's bucket (names.bucket_name), created and tagged if missing."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    s3 = ws.client("s3")
    bucket = names.bucket_name(ws.account_id, ws.region)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = aws_error_code(exc)
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        kwargs = {"Bucket": bucket}
        if ws.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ws.region}
        s3.create_bucket(**kwargs)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": names.iam_tags()})
    return bucket


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def s3_context(bucket: str, key: str, *, bucket_key: bool = False) -> dict:
    """The encryption context S3 uses for an object (or for its bucket key)."""
    return {CONTEXT_KEY: bucket_arn(bucket) if bucket_key else object_arn(bucket, key)}


def after_put_object(ws, bucket: str, key: str, answer: dict) -> dict | None:
    """S3's KMS call for a PutObject that asked for SSE-KMS (simulated except on aws).

    Returns what the simulated S3 keeps (key ARN, context) or None when nothing was called.
    """
    if answer.get("ServerSideEncryption") != "aws:kms" or not simulation_active(ws):
        return None
    key_id = answer.get("SSEKMSKeyId")
    if not key_id:
        return None  # S3 would use the aws/s3 managed key; not simulated
    bucket_key = bool(answer.get("BucketKeyEnabled"))
    context = s3_context(bucket, key, bucket_key=bucket_key)
    with _lock:
        cached = _bucket_keys.get(bucket) if bucket_key else None
    if cached is None:
        kms = ws.client("kms")
        with audit.acting_as(S3_SERVICE, bucket=bucket, objectKey=key, step="PutObject"):
            made = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
        # S3 would encrypt the object with made["Plaintext"] and discard it. moto keeps the
        # object in plaintext, so the simulation only discards the key.
        made.pop("Plaintext", None)
        cached = (made["KeyId"], context, made["CiphertextBlob"])
        if bucket_key:
            with _lock:
                _bucket_keys[bucket] = cached
    with _lock:
        _objects[(bucket, key)] = cached
    _keep(bucket, key, cached)
    return {"KeyArn": cached[0], "EncryptionContext": dict(cached[1])}


def after_get_object(ws, bucket: str, key: str) -> dict | None:
    """S3's Decrypt for a GetObject of an SSE-KMS object put in this kernel (simulated)."""
    if not simulation_active(ws):
        return None
    with _lock:
        kept = _objects.get((bucket, key))
    if kept is None:
        kept = _kept(bucket, key)
    if kept is None:
        return None
    key_arn, context, blob = kept
    kms = ws.client("kms")
    with audit.acting_as(S3_SERVICE, bucket=bucket, objectKey=key, step="GetObject"):
        answer = kms.decrypt(CiphertextBlob=blob, KeyId=key_arn, EncryptionContext=dict(context))
    answer.pop("Plaintext", None)
    return {"KeyArn": key_arn, "EncryptionContext": dict(context)}
