"""Idempotent set-up that the notebooks' first cells call.

Every notebook must run alone, in a fresh kernel, in any order. The account is shared and
lasts (on moto it lives on disk, see workshop_helpers.account), so after notebook 01 every
later notebook finds its ImportedCMK, and 04 finds the files 03 encrypted. But a notebook
cannot count on an earlier one having run (an empty account, or
KMS_WORKSHOP_STATE_DIR=memory): the functions here create what it needs, or repair it, say
so, and do nothing when it is already in place. Running any of them twice is harmless.

What lives here is plumbing. The KMS calls a notebook teaches (create_key with
Origin=EXTERNAL, get_parameters_for_import, import_key_material, generate_data_key,
decrypt, ...) are written out in the notebook's own cells; the functions below make the
same calls only to prepare a notebook's inputs.

Where the imported key material is kept
---------------------------------------
With imported key material ("bring your own key") the customer, not KMS, is responsible
for the key material: KMS holds it, but if it is deleted (DeleteImportedKeyMaterial) or
expires, the KMS key becomes unusable until the *same* material is imported again. So the
workshop keeps a copy, as a real customer would (in an HSM or an escrow, in real life):

- moto backend with its account on disk (the default): in the account's own private
  folder, ``<state dir>/key-material/`` (0700, files 0600), so the copy lasts exactly as
  long as the account; `reset` removes it with the account.
- moto backend with ``KMS_WORKSHOP_STATE_DIR=memory``: in this process's memory only, as
  the account itself.
- endpoint and aws backends: one file per key under
  ``$KMS_WORKSHOP_KEY_MATERIAL_DIR`` or else ``~/.kms-workshop/key-material/``, in a
  directory with mode 0700 and files with mode 0600. Never inside the repository, never
  inside ``workshop-data/``. `cleanup` deletes the copy of every key it schedules for
  deletion.

The copy is what `ensure_imported_cmk` re-imports when it finds the key with its material
deleted (KeyState PendingImport).
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import names
from .errors import WorkshopError

# --- constants the notebooks share --------------------------------------------------------

#: The encryption context the workshop uses for its data keys.
CONTEXT = {"project": "workshop"}

#: The plaintext the notebooks encrypt (the workshop's "secret text").
SAMPLE_SECRET_TEXT = "Meet me at the lighthouse at midnight. Bring the blue notebook.\n"
SAMPLE_SECRET_NAME = "samplesecret.txt"

# Files notebook 03 leaves for notebook 04 (all in workshop_data_dir()).
HAND_CIPHERTEXT_NAME = "encryptedSecret.bin"  # 12-byte nonce || AES-256-GCM ciphertext+tag
HAND_DATA_KEY_NAME = "datakeyEncrypted.bin"  # the CiphertextBlob of generate_data_key
ENVELOPE_NAME = "samplesecret.txt.envelope"  # workshop_helpers.envelope's file format
GCM_NONCE_BYTES = 12

WRAPPING_ALGORITHM = "RSAES_OAEP_SHA_256"
WRAPPING_KEY_SPEC = "RSA_2048"
KEY_MATERIAL_BYTES = 32
KEY_DESCRIPTION = "KMS workshop: ImportedCMK, a symmetric key with imported key material"

#: Inline policy of the participant's role: it may look at keys, nothing more. Like the
#: original workshop's role it lacks the data-key operations (GenerateDataKey, Encrypt,
#: Decrypt), which notebook 02 adds with the additional-permissions policy.
BASE_POLICY_NAME = "KMSWorkshop-ReadOnlyKeys"
BASE_POLICY_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "LookAtKeysOnly",
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:ListKeys", "kms:ListAliases", "kms:ListResourceTags"],
            "Resource": "*",
        }
    ],
}

# How long to wait for IAM changes to reach KMS and STS on the aws backend. IAM is
# eventually consistent: a freshly attached policy usually works within seconds.
IAM_RETRY_ATTEMPTS = 12
IAM_RETRY_DELAY = 5.0


def announce(ws) -> None:
    """On the aws backend, say where things will be created and what they cost, before
    anything is created. Silent on moto and the local endpoint (nothing real, nothing costs)."""
    if ws.backend != "aws":
        return
    print(
        f"REAL AWS: account {ws.account_id}, region {ws.region}, as {ws.identity_arn}.\n"
        "This notebook may create up to two KMS keys (about 1 USD a month each, prorated; no charge "
        "once pending deletion), an IAM role and policies (free), and make KMS requests (a few cents "
        "at most). Everything is tagged 'kms-workshop'; notebook 08 removes it."
    )


# --- the workshop-data directory ---------------------------------------------------------


def workshop_data_path() -> pathlib.Path:
    """Where workshop_data_dir() is, without creating it."""
    configured = os.environ.get("KMS_WORKSHOP_DATA_DIR", "").strip()
    return pathlib.Path(configured).expanduser() if configured else pathlib.Path.cwd() / "workshop-data"


def workshop_data_dir() -> pathlib.Path:
    """The folder for the workshop's files, created if needed.

    ``$KMS_WORKSHOP_DATA_DIR`` if set, else ``workshop-data/`` in the current directory
    (the notebooks run with cwd ``notebooks/``, so ``notebooks/workshop-data/``). The
    folder carries its own ``.gitignore`` so that it is never committed, wherever it is.
    """
    path = workshop_data_path()
    try:
        path.mkdir(parents=True, exist_ok=True)
        ignore = path / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Files made by the KMS workshop: never commit them.\n*\n")
    except OSError as exc:
        raise WorkshopError(
            f"cannot create the workshop-data folder {path} ({exc.strerror or exc}); "
            "set KMS_WORKSHOP_DATA_DIR to a writable folder."
        ) from None
    return path


def ensure_sample_secret() -> pathlib.Path:
    """The workshop's secret text file (step 1 of the workshop), written if missing or changed."""
    path = workshop_data_dir() / SAMPLE_SECRET_NAME
    if not path.exists() or path.read_text() != SAMPLE_SECRET_TEXT:
        path.write_text(SAMPLE_SECRET_TEXT)
    return path


# --- keeping a copy of imported key material ---------------------------------------------

_memory_copies: dict[tuple[str, str, str], bytes] = {}
_memory_lock = threading.Lock()


def _in_memory(ws) -> bool:
    """moto with its account in this process only: the copy stays in memory too."""
    return ws.backend == "moto" and getattr(ws, "state_dir", None) is None


def key_material_dir(ws) -> pathlib.Path | None:
    """Where copies of key material are kept for this backend; None when in memory."""
    if _in_memory(ws):
        return None
    if ws.backend == "moto":
        return pathlib.Path(ws.state_dir) / "key-material" / f"moto-{ws.account_id}-{ws.region}"
    configured = os.environ.get("KMS_WORKSHOP_KEY_MATERIAL_DIR", "").strip()
    base = pathlib.Path(configured).expanduser() if configured else pathlib.Path.home() / ".kms-workshop" / "key-material"
    return base / f"{ws.backend}-{ws.account_id}-{ws.region}"


def _material_file(ws, key_id: str) -> pathlib.Path:
    directory = key_material_dir(ws)
    assert directory is not None
    return directory / f"{_bare_key_id(key_id)}.bin"


def _bare_key_id(key_id: str) -> str:
    return key_id.rsplit("/", 1)[-1] if key_id.startswith("arn:") else key_id


def keep_key_material(ws, key_id: str, material: bytes) -> str:
    """Keep the customer's copy of `material` for `key_id`; returns where, in words."""
    if _in_memory(ws):
        with _memory_lock:
            _memory_copies[(ws.account_id, ws.region, _bare_key_id(key_id))] = bytes(material)
        return "in this kernel's memory (the account lives only as long as the kernel: KMS_WORKSHOP_STATE_DIR=memory)"
    path = _material_file(ws, key_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for parent in (path.parent, path.parent.parent):
            if parent.exists() and stat.S_IMODE(parent.stat().st_mode) != 0o700:
                os.chmod(parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(material)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise WorkshopError(
            f"cannot keep the key material copy in {path.parent} ({exc.strerror or exc}); "
            "set KMS_WORKSHOP_KEY_MATERIAL_DIR to a private writable folder."
        ) from None
    return f"in {_shown_path(path)} (readable by you only)"


def _shown_path(path: pathlib.Path) -> str:
    """A path as a learner would type it: ~ for the home folder."""
    try:
        return "~/" + str(path.relative_to(pathlib.Path.home()))
    except ValueError:
        return str(path)


def kept_key_material(ws, key_id: str) -> bytes | None:
    """The kept copy of the key material of `key_id`, or None."""
    if _in_memory(ws):
        with _memory_lock:
            return _memory_copies.get((ws.account_id, ws.region, _bare_key_id(key_id)))
    path = _material_file(ws, key_id)
    try:
        return path.read_bytes()
    except OSError:
        return None


def forget_key_material(ws, key_id: str) -> bool:
    """Delete the kept copy for `key_id`; True if there was one."""
    if _in_memory(ws):
        with _memory_lock:
            return _memory_copies.pop((ws.account_id, ws.region, _bare_key_id(key_id)), None) is not None
    path = _material_file(ws, key_id)
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


# --- the ImportedCMK ---------------------------------------------------------------------


@dataclass
class ImportedKey:
    """The workshop's KMS key with imported key material, behind `alias`."""

    key_id: str
    arn: str
    alias: str
    created: bool
    state: str = "Enabled"
    #: What ensure_imported_cmk had to do to make the key usable, in words (may be empty).
    repairs: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.created:
            how = "created with freshly imported key material"
        elif self.repairs:
            how = "repaired: " + "; ".join(self.repairs)
        else:
            how = "already in place"
        return f"{self.alias} -> key {self.key_id} ({self.state}, {how})"

    def status(self) -> str:
        """Two lines for a notebook's first cell: the key, then where it comes from (found
        in the account, as notebook 01 left it, or made now because the account had none),
        plus any repair."""
        line = f"{self.alias} -> key {self.key_id} ({self.state})"
        if self.repairs:
            line += "; repaired: " + "; ".join(self.repairs)
        if self.created:
            origin = ("made just now: this account had no ImportedCMK yet (notebook 01 builds it "
                      "step by step; every later notebook then uses that same key)")
        else:
            origin = "found in your account: the key notebook 01 made, with the key material you imported"
        return f"{line}\nWhere it comes from: {origin}"

    def __str__(self) -> str:
        return self.summary()


def _client_error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _describe(kms, key_id: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as exc:
        if _client_error_code(exc) == "NotFoundException":
            return None
        raise


def wrap_key_material(public_key_der: bytes, material: bytes) -> bytes:
    """Encrypt `material` under the wrapping public key from get_parameters_for_import
    (RSAES_OAEP_SHA_256: RSA-OAEP with SHA-256 and MGF1-SHA-256)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    public_key = serialization.load_der_public_key(public_key_der)
    return public_key.encrypt(
        material,
        padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )


def import_material(kms, key_id: str, material: bytes) -> None:
    """The three import steps for `key_id`: parameters, wrap, import (no expiry)."""
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=WRAPPING_ALGORITHM, WrappingKeySpec=WRAPPING_KEY_SPEC
    )
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap_key_material(params["PublicKey"], material),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )


def create_imported_key(ws, kms=None) -> tuple[str, str]:
    """A new KMS key with Origin EXTERNAL and freshly imported material, tagged; no alias.

    The material's copy is kept (see the module's docstring). Returns (key_id, arn). If the
    import fails, the half-made key is scheduled for deletion before the error is raised.
    """
    kms = kms or ws.client("kms")
    meta = kms.create_key(
        Origin="EXTERNAL",
        KeySpec="SYMMETRIC_DEFAULT",
        KeyUsage="ENCRYPT_DECRYPT",
        Description=KEY_DESCRIPTION,
        Tags=names.kms_tags(),
    )["KeyMetadata"]
    key_id, arn = meta["KeyId"], meta["Arn"]
    material = secrets.token_bytes(KEY_MATERIAL_BYTES)
    try:
        keep_key_material(ws, key_id, material)
        try:
            import_material(kms, key_id, material)
        except NotImplementedError:
            # TEMPORARY until workshop_helpers.fidelity implements key import on moto:
            # plain moto gives an EXTERNAL key its own random material, usable at once.
            if ws.backend != "moto":
                raise
            import warnings

            warnings.warn("moto without key import: the ImportedCMK uses moto's own material", stacklevel=2)
    except BaseException:
        _schedule_quietly(kms, key_id)
        forget_key_material(ws, key_id)
        raise
    finally:
        del material
    return key_id, arn


def _schedule_quietly(kms, key_id: str) -> None:
    try:
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    except Exception:  # noqa: BLE001 - best effort on the way out of an error
        pass


def point_alias(ws, alias: str, key_id: str, kms=None) -> str | None:
    """Make `alias` point at `key_id` (create or update). Returns the key id it pointed at
    before, if that was another key."""
    from botocore.exceptions import ClientError

    kms = kms or ws.client("kms")
    previous = _describe(kms, alias)
    if previous is None:
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
            return None
        except ClientError as exc:
            if _client_error_code(exc) != "AlreadyExistsException":
                raise
            previous = _describe(kms, alias)
    if previous and previous["KeyId"] == _bare_key_id(key_id):
        return None
    kms.update_alias(AliasName=alias, TargetKeyId=key_id)
    return previous["KeyId"] if previous else None


def _not_ours(alias: str, key_id: str) -> WorkshopError:
    return WorkshopError(
        f"{alias} in this account points at key {key_id}, which the workshop did not create "
        "(it lacks the workshop's tag); the workshop leaves it alone. Set "
        "KMS_WORKSHOP_PARTICIPANT=<your name> to use names of your own, then restart the kernel."
    )


def move_alias(ws, alias: str, key_id: str, kms=None) -> str | None:
    """Point an existing `alias` at `key_id` and retire the key it pointed at before
    (notebook 01, run again). On aws only an alias of the workshop's own key is moved.
    Returns the previous key id."""
    kms = kms or ws.client("kms")
    previous = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    if previous == _bare_key_id(key_id):
        return None
    if ws.backend == "aws" and not is_workshop_key(kms, previous):
        raise _not_ours(alias, previous)
    kms.update_alias(AliasName=alias, TargetKeyId=key_id)
    retire_key(ws, previous, kms)
    return previous


def retire_key(ws, key_id: str, kms=None) -> bool:
    """Schedule a key the workshop no longer uses for deletion (7 days) and forget its
    material copy. Only the workshop's own keys on aws (tagged). True if scheduled."""
    from botocore.exceptions import ClientError

    kms = kms or ws.client("kms")
    if ws.backend == "aws" and not is_workshop_key(kms, key_id):
        return False
    try:
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        if meta["KeyState"] not in ("PendingDeletion", "PendingReplicaDeletion"):
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    except ClientError as exc:
        if _client_error_code(exc) not in ("NotFoundException", "KMSInvalidStateException"):
            raise
        return False
    forget_key_material(ws, key_id)
    return True


def is_workshop_key(kms, key_id: str) -> bool:
    """Does the key carry the workshop's tag (and this participant's, if one is set)?"""
    from botocore.exceptions import ClientError

    try:
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id).get("Tags", [])}
    except ClientError:
        return False
    wanted = names.tags()
    return all(tags.get(k) == v for k, v in wanted.items())


def ensure_imported_cmk(ws, *, kms=None) -> ImportedKey:
    """The ImportedCMK behind `names.key_alias()`, made usable; idempotent.

    - no alias: creates a key with Origin EXTERNAL, imports 32 random bytes wrapped with
      RSAES_OAEP_SHA_256 / RSA_2048 (material never expires), tags it, creates the alias;
    - an Enabled key behind the alias: reused as it is;
    - pending deletion: the deletion is cancelled and the key enabled again;
    - disabled: enabled again;
    - material deleted (PendingImport): the kept copy is imported again;
    - anything else unusable (no kept copy, unavailable): a new key replaces it behind the
      alias and the old one is scheduled for deletion (on aws only if the workshop tagged it).
    """
    from botocore.exceptions import ClientError

    kms = kms or ws.client("kms")
    alias = names.key_alias()
    meta = _describe(kms, alias)
    if meta is None:
        key_id, arn = create_imported_key(ws, kms)
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        except ClientError as exc:
            # Another kernel made the alias at the same moment (or the call failed):
            # keep theirs, retire ours, and carry on with the alias as it now stands.
            retire_key(ws, key_id, kms)
            if _client_error_code(exc) != "AlreadyExistsException":
                raise
            meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
        else:
            meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
            return ImportedKey(key_id, arn, alias, True, meta["KeyState"])

    if ws.backend == "aws" and not is_workshop_key(kms, meta["KeyId"]):
        raise _not_ours(alias, meta["KeyId"])
    repairs: list[str] = []
    for _ in range(4):
        state = meta["KeyState"]
        key_id = meta["KeyId"]
        if state == "Enabled":
            break
        try:
            if state == "PendingDeletion":
                kms.cancel_key_deletion(KeyId=key_id)
                repairs.append("cancelled its scheduled deletion")
            elif state == "Disabled":
                kms.enable_key(KeyId=key_id)
                repairs.append("enabled it again")
            elif state == "PendingImport":
                material = kept_key_material(ws, key_id)
                if material is None:
                    break
                import_material(kms, key_id, material)
                repairs.append("re-imported the kept copy of its key material")
            else:
                break
        except ClientError as exc:
            if _client_error_code(exc) in ("IncorrectKeyMaterialException", "KMSInvalidStateException",
                                            "ExpiredImportTokenException", "InvalidImportTokenException"):
                break
            raise
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]

    if meta["KeyState"] == "Enabled":
        return ImportedKey(meta["KeyId"], meta["Arn"], alias, False, "Enabled", repairs)

    # Beyond repair: a new key takes the alias over.
    old_id, old_state = meta["KeyId"], meta["KeyState"]
    key_id, arn = create_imported_key(ws, kms)
    kms.update_alias(AliasName=alias, TargetKeyId=key_id)
    retired = retire_key(ws, old_id, kms)
    note = f"replaced key {old_id}, which could not be used ({old_state})"
    if retired:
        note += " and is now scheduled for deletion"
    return ImportedKey(key_id, arn, alias, True, "Enabled", repairs + [note])


def other_key_alias() -> str:
    """Alias of a second, ordinary KMS key: "the wrong key" in notebook 04."""
    who = names.participant()
    return "alias/KMSWorkshop-OtherKey" + (f"-{who}" if who else "")


def ensure_other_key(ws, *, kms=None) -> dict:
    """A second KMS key (KMS-made material, tagged), behind `other_key_alias()`; idempotent.
    Returns its KeyMetadata. Used to show what decrypting under the wrong key does."""
    kms = kms or ws.client("kms")
    alias = other_key_alias()
    meta = _describe(kms, alias)
    if meta is not None and meta["KeyState"] == "PendingDeletion":
        kms.cancel_key_deletion(KeyId=meta["KeyId"])
        meta = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    if meta is not None and meta["KeyState"] == "Disabled":
        kms.enable_key(KeyId=meta["KeyId"])
        meta = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    if meta is not None and meta["KeyState"] == "Enabled":
        return meta
    created = kms.create_key(Description="KMS workshop: another key, to show a wrong-key decrypt",
                             Tags=names.kms_tags())["KeyMetadata"]
    previous = point_alias(ws, alias, created["KeyId"], kms)
    if previous:
        retire_key(ws, previous, kms)
    return created


# --- IAM: the participant's role and its policies ----------------------------------------


def _partition(ws) -> str:
    parts = (ws.identity_arn or "").split(":")
    return parts[1] if len(parts) > 2 and parts[1] else "aws"


def role_arn(ws) -> str:
    return f"arn:{_partition(ws)}:iam::{ws.account_id}:role/{names.role_name()}"


def policy_arn(ws, name: str) -> str:
    return f"arn:{_partition(ws)}:iam::{ws.account_id}:policy/{name}"


def trust_policy(ws) -> dict:
    """Who may assume the participant's role: principals of this account (with IAM
    permission to call sts:AssumeRole on it)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{_partition(ws)}:iam::{ws.account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def may_change_iam(ws, what: str = "an IAM role and policies for this workshop") -> bool:
    """Whether the notebook may create or change IAM things.

    Always yes on moto and the local endpoint. On aws the learner is asked (unless
    ``KMS_WORKSHOP_IAM=yes`` or ``no`` answers in advance): their credentials may lack
    the IAM permissions, or they may not want IAM changes in their account.
    """
    if ws.backend != "aws":
        return True
    preset = os.environ.get("KMS_WORKSHOP_IAM", "").strip().lower()
    if preset in ("yes", "y", "true", "1"):
        return True
    if preset in ("no", "n", "false", "0"):
        return False
    answer = input(f"Create or change {what} in AWS account {ws.account_id}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def ensure_participant_role(ws) -> dict:
    """The participant's role (`names.role_name()`), with too few permissions; idempotent.

    Trust: principals of this account. Permissions: the inline policy
    `BASE_POLICY_NAME`, which lets it describe and list keys but not use them. Returns the
    role as IAM's get_role describes it.
    """
    from botocore.exceptions import ClientError

    iam = ws.client("iam")
    name = names.role_name()
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if _client_error_code(exc) != "NoSuchEntity":
            raise
        try:
            role = iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust_policy(ws)),
                Description="KMS workshop participant role: starts with too few KMS permissions",
                Tags=names.iam_tags(),
            )["Role"]
        except ClientError as exc2:
            if _client_error_code(exc2) != "EntityAlreadyExists":
                raise
            role = iam.get_role(RoleName=name)["Role"]
    iam.put_role_policy(RoleName=name, PolicyName=BASE_POLICY_NAME, PolicyDocument=json.dumps(BASE_POLICY_DOCUMENT))
    return role


def attached_policy_names(ws) -> list[str]:
    """Names of the managed policies attached to the participant's role."""
    iam = ws.client("iam")
    paginator = iam.get_paginator("list_attached_role_policies")
    found = []
    for page in paginator.paginate(RoleName=names.role_name()):
        found += [p["PolicyName"] for p in page["AttachedPolicies"]]
    return found


def reset_participant_role(ws) -> list[str]:
    """Back to the role's starting permissions: detach the workshop's extra policies
    (additional permissions, decrypt-with-context-only). Returns the names detached."""
    from botocore.exceptions import ClientError

    ensure_participant_role(ws)
    iam = ws.client("iam")
    detached = []
    for name in (names.additional_policy_name(), names.context_policy_name()):
        try:
            iam.detach_role_policy(RoleName=names.role_name(), PolicyArn=policy_arn(ws, name))
            detached.append(name)
        except ClientError as exc:
            if _client_error_code(exc) != "NoSuchEntity":
                raise
    if detached and ws.backend == "aws":
        time.sleep(IAM_RETRY_DELAY)  # let the detachment reach KMS before the denial is shown
    return detached


def ensure_managed_policy(ws, name: str, document: dict, description: str = "") -> str:
    """A customer managed policy `name` with `document` as its default version; returns
    its ARN. Creates it, or adds a new default version when the document changed."""
    from botocore.exceptions import ClientError

    iam = ws.client("iam")
    arn = policy_arn(ws, name)
    text = json.dumps(document)
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as exc:
        if _client_error_code(exc) != "NoSuchEntity":
            raise
        kwargs: dict[str, Any] = {"PolicyName": name, "PolicyDocument": text, "Tags": names.iam_tags()}
        if description:
            kwargs["Description"] = description
        return iam.create_policy(**kwargs)["Policy"]["Arn"]
    current = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    stored = current["Document"]
    if isinstance(stored, str):
        from urllib.parse import unquote

        stored = json.loads(unquote(stored))
    if stored == document:
        return arn
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
    while len(versions) >= 5 and old:
        iam.delete_policy_version(PolicyArn=arn, VersionId=old.pop(0)["VersionId"])
        versions = versions[:-1]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)
    return arn


def assume_participant_role(ws, *, session_name: str | None = None) -> dict:
    """Temporary credentials of the participant's role (creating the role if needed).

    On aws a just-created role can take a few seconds to become assumable: the call is
    retried a bounded number of times.
    """
    role = ensure_participant_role(ws)
    sts = ws.client("sts")
    who = names.participant() or "participant"
    name = session_name or f"kms-workshop-{who}"
    result = retry_while_denied(
        ws,
        lambda: sts.assume_role(RoleArn=role["Arn"], RoleSessionName=name[:64], DurationSeconds=3600),
    )
    return result["Credentials"]


def retry_while_denied(ws, call: Callable[[], Any], *, attempts: int | None = None,
                       delay: float | None = None, sleep: Callable[[float], None] = time.sleep) -> Any:
    """`call()`, retried while it is denied, on the aws backend only.

    IAM changes take a few seconds to reach KMS and STS. On moto and the local endpoint
    they are immediate, so a denial there is final and raised at once.
    """
    from botocore.exceptions import ClientError

    tries = 1 if ws.backend != "aws" else (attempts or IAM_RETRY_ATTEMPTS)
    pause = IAM_RETRY_DELAY if delay is None else delay
    for attempt in range(1, tries + 1):
        try:
            return call()
        except ClientError as exc:
            if attempt == tries or _client_error_code(exc) not in ("AccessDeniedException", "AccessDenied"):
                raise
            sleep(pause)
    raise AssertionError("unreachable")


# --- inputs an earlier notebook would have produced ---------------------------------------


@dataclass
class SampleInputs:
    """The encrypted files of notebook 03, checked (or remade) for notebook 04."""

    plaintext: pathlib.Path
    hand_ciphertext: pathlib.Path
    hand_data_key: pathlib.Path
    envelope: pathlib.Path | None
    remade: bool
    reason: str

    def summary(self) -> str:
        if self.remade:
            return (f"Notebook 03's files: made just now, as notebook 03 makes them, because {self.reason} "
                    "(run notebook 03 first to decrypt files you encrypted yourself).")
        return "Notebook 03's files: the very files you encrypted in notebook 03, under this key."

    def __str__(self) -> str:
        return self.summary()


def _hand_files_valid(ws, key: ImportedKey, kms) -> str | None:
    """None when notebook 03's by-hand files decrypt under `key`; else the reason why not."""
    from botocore.exceptions import ClientError

    data_dir = workshop_data_dir()
    ct_path, dk_path = data_dir / HAND_CIPHERTEXT_NAME, data_dir / HAND_DATA_KEY_NAME
    if not ct_path.exists() or not dk_path.exists():
        return "this folder had none yet"
    try:
        response = kms.decrypt(CiphertextBlob=dk_path.read_bytes(), EncryptionContext=CONTEXT)
    except ClientError:
        return "they were made under another KMS key"
    try:
        if response.get("KeyId") not in (key.arn, key.key_id):
            return "they were made under another KMS key"
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        blob = ct_path.read_bytes()
        AESGCM(response["Plaintext"]).decrypt(blob[:GCM_NONCE_BYTES], blob[GCM_NONCE_BYTES:], None)
    except Exception:  # noqa: BLE001 - any damage means: make them again
        return "they were damaged"
    finally:
        response.pop("Plaintext", None)
    return None


def _envelope_valid(path: pathlib.Path, key: ImportedKey, kms) -> bool:
    if not path.exists():
        return False
    try:
        from . import envelope
    except ImportError:
        return False
    try:
        header = envelope.read_header(path)
    except Exception:  # noqa: BLE001 - damaged or not an envelope: remake
        return False
    return header.key_arn == key.arn and dict(header.encryption_context) == CONTEXT


def encrypt_sample_by_hand(kms, key: ImportedKey) -> tuple[bytes, bytes]:
    """What notebook 03 does by hand: a data key, AES-256-GCM over the secret text.
    Returns (nonce || ciphertext, encrypted data key). The plaintext key is dropped."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    response = kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext=CONTEXT)
    nonce = secrets.token_bytes(GCM_NONCE_BYTES)
    sealed = nonce + AESGCM(response.pop("Plaintext")).encrypt(nonce, SAMPLE_SECRET_TEXT.encode(), None)
    return sealed, response["CiphertextBlob"]


def ensure_encrypted_sample(ws, key: ImportedKey | None = None, *, kms=None) -> SampleInputs:
    """Notebook 03's outputs, for notebook 04: kept when they decrypt under the current
    ImportedCMK, else made again (and `remade` says so, with the reason)."""
    kms = kms or ws.client("kms")
    key = key or ensure_imported_cmk(ws, kms=kms)
    data_dir = workshop_data_dir()
    plaintext = ensure_sample_secret()
    hand_ct, hand_dk, env_path = (data_dir / HAND_CIPHERTEXT_NAME, data_dir / HAND_DATA_KEY_NAME,
                                  data_dir / ENVELOPE_NAME)
    reason = _hand_files_valid(ws, key, kms)
    envelope_module = _envelope_module()
    if reason is None and envelope_module is not None and not _envelope_valid(env_path, key, kms):
        reason = "the envelope file was missing or made under another KMS key"
    if reason is None:
        return SampleInputs(plaintext, hand_ct, hand_dk, env_path if envelope_module else None, False, "")
    sealed, blob = encrypt_sample_by_hand(kms, key)
    hand_ct.write_bytes(sealed)
    hand_dk.write_bytes(blob)
    if envelope_module is not None:
        envelope_module.encrypt_file(plaintext, env_path, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms)
    return SampleInputs(plaintext, hand_ct, hand_dk, env_path if envelope_module else None, True, reason)


def _envelope_module():
    try:
        from . import envelope
    except ImportError:
        return None
    return envelope


def local_workshop_files() -> list[pathlib.Path]:
    """The files in workshop_data_dir() (not its .gitignore), sorted."""
    data_dir = workshop_data_dir()
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and p.name != ".gitignore")
