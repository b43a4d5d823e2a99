"""What Amazon EBS and EC2 do with KMS for an encrypted volume, simulated with real KMS calls.

On AWS, creating an encrypted volume and attaching it make KMS calls that you never write:
the AWS KMS Developer Guide's CloudTrail example for EC2 shows them. moto records the
volume's ``Encrypted`` flag and ``KmsKeyId`` and calls nothing. This module makes those
calls itself, against the same KMS backend, in the same order and with the same
parameters, inside `audit.acting_as("ec2.amazonaws.com")` so that the trail labels them
``ec2.amazonaws.com (simulated)``:

1. After CreateVolume (`after_create_volume`): **GenerateDataKeyWithoutPlaintext** under the
   volume's KMS key, NumberOfBytes 64 (as AWS's CloudTrail examples for EBS show), encryption
   context ``{"aws:ebs:id": <volume id>}``.
   EBS keeps the encrypted data key with the volume's metadata; no API returns it, and
   neither does the simulation (it keeps it in this kernel's memory, in `SimulatedVolume`).
   If KMS refuses (a disabled or missing key), EBS cannot create the volume: the simulation
   deletes the moto volume and raises KMS's error.
2. After AttachVolume (`after_attach_volume`): **CreateGrant** on the key for EC2's
   infrastructure principal for that instance (``<account>:aws:ec2-infrastructure:<instance
   id>``), allowing Decrypt only with that volume's context; then **Decrypt** of the
   encrypted data key with the same context, by the assumed role
   ``aws:ec2-infrastructure/<instance id>``. The plaintext data key stays in memory (a
   bytearray, never logged, never written) as the hypervisor keeps it while the volume is
   attached.
3. Reads and writes (`write_block`, `read_block`): each 4 KiB block is encrypted with
   AES-256-XTS, the tweak being the block number, as disk encryption does (no size change,
   no per-block tag). The 64-byte data key is the two 256-bit XTS keys, as AES-256-XTS
   needs (how EBS itself lays out its blocks is not public).
4. After DetachVolume (`after_detach_volume`): the in-memory key is overwritten and dropped;
   reads and writes fail until the volume is attached again (a new Decrypt).

On the **aws** backend nothing is simulated: the real EBS and EC2 make these calls
themselves, they appear only in the real CloudTrail (typically within minutes), and
`after_*` functions make no KMS call. The `SimulatedVolume` they return says so, and block
reads and writes are refused. `cloudtrail_events()` looks the real events up there.

What EBS keeps with a volume (its encrypted data key, its encrypted blocks) is kept with
the account: on the moto backend with the account on disk, in the account's folder, so
another kernel finds the volume (attaching it there makes EC2's Decrypt again, as a new
host would). The plaintext data key is never kept: it lives in the attaching kernel's
memory only. On the endpoint backend it is kept in this process, so a volume made by
another kernel is unknown to this one (`volume()` says so).
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from . import audit, names
from .account import records_store
from .backend import active
from .display.tables import table
from .errors import WorkshopError

BLOCK_SIZE = 4096
CONTEXT_KEY = "aws:ebs:id"
EC2_SERVICE = "ec2.amazonaws.com"
VOLUME_NAME = "WorkshopEBS"
INSTANCE_NAME = "KMSWorkshop-Instance"
DEFAULT_SIZE_GIB = 100
DEFAULT_DEVICE = "/dev/sdf"
INSTANCE_ENV = "KMS_WORKSHOP_INSTANCE_ID"  # the aws backend's instance to attach to


_lock = threading.RLock()
_volumes: dict[str, SimulatedVolume] = {}


@dataclass
class SimulatedVolume:
    """What EBS keeps for an encrypted volume, and what EC2 holds while it is attached."""

    volume_id: str
    key_id: str  # as given to CreateVolume (an alias here, as in the workshop)
    key_arn: str  # what KMS answered: the key ARN
    encryption_context: dict
    simulated: bool = True
    encrypted_data_key: bytes = field(default=b"", repr=False)
    instance_id: str | None = None
    grant_id: str | None = None
    _data_key: bytearray | None = field(default=None, repr=False)
    _blocks: dict[int, bytes] = field(default_factory=dict, repr=False)

    @property
    def attached(self) -> bool:
        return self.instance_id is not None

    @property
    def key_in_memory(self) -> bool:
        return self._data_key is not None

    def metadata(self) -> dict[str, Any]:
        """What the simulation keeps with the volume (the encrypted data key by size only)."""
        info: dict[str, Any] = {
            "VolumeId": self.volume_id,
            "KmsKeyId": self.key_arn,
            "EncryptionContext": dict(self.encryption_context),
            "Simulated": self.simulated,
        }
        if self.encrypted_data_key:
            info["EncryptedDataKey"] = f"{len(self.encrypted_data_key)} bytes (kept with the volume, never shown)"
        info["AttachedTo"] = self.instance_id
        info["PlaintextDataKeyInMemory"] = self.key_in_memory
        info["BlocksWritten"] = len(self._blocks)
        return info

    def _note(self) -> str:
        if self.simulated:
            return "Simulated: the workshop made EBS's KMS calls itself; the trail marks them SIMULATED."
        override = active().endpoint_override() if active() is not None else None
        if override:  # "Real AWS" would be untrue: the requests went to another endpoint
            return f"AWS backend, endpoint overridden ({override}): EBS's KMS calls are whatever that endpoint made."
        return "Real AWS: EBS made its own KMS calls; see CloudTrail (minutes later)."

    def _repr_html_(self) -> str:
        return table(self.metadata(), caption="EBS volume metadata", footnote=self._note()).html()

    def __repr__(self) -> str:
        lines = ["EBS volume metadata"] + [f"{k} | {v}" for k, v in self.metadata().items()]
        return "\n".join(lines + [self._note()])


def simulation_active(ws) -> bool:
    """True where the simulation makes EBS's KMS calls: moto and the local endpoint."""
    return ws.backend != "aws"


_RECORD_KIND = "ebs-volume"


def _save(sim: SimulatedVolume) -> None:
    """Keep what EBS keeps with the volume (never the plaintext data key) with the account."""
    store = records_store()
    if store is None or not sim.simulated:
        return
    with _lock:
        blocks = {str(i): base64.b64encode(b).decode() for i, b in sim._blocks.items()}
    store.put_record(
        _RECORD_KIND,
        sim.volume_id,
        {
            "key_id": sim.key_id,
            "key_arn": sim.key_arn,
            "context": dict(sim.encryption_context),
            "encrypted_data_key": base64.b64encode(sim.encrypted_data_key).decode(),
            "instance_id": sim.instance_id,
            "grant_id": sim.grant_id,
            "blocks": blocks,
        },
    )


def _kept_volumes() -> dict[str, SimulatedVolume]:
    store = records_store()
    if store is None:
        return {}
    found = {}
    for volume_id, data in store.records(_RECORD_KIND).items():
        found[volume_id] = SimulatedVolume(
            volume_id,
            data["key_id"],
            data["key_arn"],
            dict(data["context"]),
            encrypted_data_key=base64.b64decode(data["encrypted_data_key"]),
            instance_id=data.get("instance_id"),
            grant_id=data.get("grant_id"),
            _blocks={int(i): base64.b64decode(b) for i, b in data.get("blocks", {}).items()},
        )
    return found


def volume(volume_id: str) -> SimulatedVolume:
    with _lock:
        found = _volumes.get(volume_id)
    if found is None:
        found = _kept_volumes().get(volume_id)
        if found is not None:
            with _lock:
                found = _volumes.setdefault(volume_id, found)
    if found is None:
        raise WorkshopError(
            f"{volume_id} is unknown to this kernel's EBS simulation: create it here with "
            "ebs.after_create_volume (the simulation's state lives in this process)."
        )
    return found


def volumes() -> list[SimulatedVolume]:
    kept = _kept_volumes()
    with _lock:
        for volume_id, sim in kept.items():
            _volumes.setdefault(volume_id, sim)
        return list(_volumes.values())


# --- 1. creation --------------------------------------------------------------------------


def volume_tags(name: str = VOLUME_NAME) -> list[dict[str, str]]:
    """EC2 tags for a workshop volume: Name plus the workshop's own tags."""
    return [{"Key": "Name", "Value": name}] + names.iam_tags()


def create_encrypted_volume(
    ws,
    key_id: str,
    *,
    size_gib: int = DEFAULT_SIZE_GIB,
    az: str | None = None,
    name: str = VOLUME_NAME,
) -> SimulatedVolume:
    """EC2 CreateVolume (encrypted under `key_id`), then what EBS does with KMS."""
    ec2 = ws.client("ec2")
    response = ec2.create_volume(
        AvailabilityZone=az or default_az(ws),
        Size=size_gib,
        VolumeType="gp3",
        Encrypted=True,
        KmsKeyId=key_id,
        TagSpecifications=[{"ResourceType": "volume", "Tags": volume_tags(name)}],
    )
    return after_create_volume(ws, response)


def default_az(ws) -> str:
    return ws.region + "a"


def after_create_volume(ws, created: dict | str) -> SimulatedVolume:
    """What EBS does with KMS once CreateVolume returned (simulated except on aws).

    `created` is CreateVolume's answer (or a volume id, then described).
    """
    info = created if isinstance(created, dict) else _describe(ws, created)
    volume_id = info["VolumeId"]
    if not info.get("Encrypted"):
        raise WorkshopError(f"{volume_id} is not encrypted: EBS makes no KMS call for it.")
    key_id = info.get("KmsKeyId")
    if not key_id:
        raise WorkshopError(
            f"{volume_id} was created without KmsKeyId (the account's default key aws/ebs); "
            "the simulation needs the key: pass KmsKeyId to create_volume."
        )
    context = {CONTEXT_KEY: volume_id}
    if not simulation_active(ws):
        sim = SimulatedVolume(volume_id, key_id, key_id, context, simulated=False)
    else:
        kms = ws.client("kms")
        try:
            with audit.acting_as(EC2_SERVICE, volumeId=volume_id, step="CreateVolume"):
                answer = kms.generate_data_key_without_plaintext(
                    KeyId=key_id, NumberOfBytes=64, EncryptionContext=context
                )
        except Exception:
            # EBS cannot make the volume without its data key: it never becomes usable.
            try:
                ws.client("ec2").delete_volume(VolumeId=volume_id)
            except Exception:  # noqa: BLE001 - the KMS error is the one to show
                pass
            raise
        sim = SimulatedVolume(volume_id, key_id, answer["KeyId"], context, encrypted_data_key=answer["CiphertextBlob"])
    with _lock:
        _volumes[volume_id] = sim
    _save(sim)
    return sim


def _describe(ws, volume_id: str) -> dict:
    found = ws.client("ec2").describe_volumes(VolumeIds=[volume_id])["Volumes"]
    if not found:
        raise WorkshopError(f"no volume {volume_id}")
    return found[0]


# --- the instance to attach to ------------------------------------------------------------


def workshop_instance(ws, az: str | None = None) -> str | None:
    """The instance the workshop attaches volumes to, in `az`.

    On moto and the endpoint: a small instance tagged Name=KMSWorkshop-Instance, launched
    once and reused. On aws: the instance named by $KMS_WORKSHOP_INSTANCE_ID (the workshop's
    "working instance"), or None; the workshop never launches instances in a real account.
    """
    if not simulation_active(ws):
        return os.environ.get(INSTANCE_ENV, "").strip() or None
    az = az or default_az(ws)
    ec2 = ws.client("ec2")
    found = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [INSTANCE_NAME]},
            {"Name": f"tag:{names.TAG_KEY}", "Values": [names.TAG_VALUE]},
            {"Name": "availability-zone", "Values": [az]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    for reservation in found.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            if names.is_ours(names.tag_dict(instance.get("Tags"))):
                return instance["InstanceId"]
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm-*-x86_64-gp2"]}]
    )["Images"]
    if not images:
        raise WorkshopError("the backend offers no Amazon Linux 2 image to launch the workshop instance from")
    image = sorted(images, key=lambda i: i.get("Name", ""))[-1]["ImageId"]
    answer = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        Placement={"AvailabilityZone": az},
        TagSpecifications=[{"ResourceType": "instance", "Tags": volume_tags(INSTANCE_NAME)}],
    )
    return answer["Instances"][0]["InstanceId"]


# --- 2. attachment ------------------------------------------------------------------------


def infrastructure_principal(ws, instance_id: str) -> str:
    """The grantee EC2 names in its grant for an instance's volume."""
    return f"{ws.account_id}:aws:ec2-infrastructure:{instance_id}"


def infrastructure_identity(ws, instance_id: str) -> dict:
    """The userIdentity of EC2's Decrypt for an attached volume."""
    return audit.identity_from_arn(f"arn:aws:sts::{ws.account_id}:assumed-role/aws:ec2-infrastructure/{instance_id}")


def attach_volume(ws, volume_id: str, instance_id: str, *, device: str = DEFAULT_DEVICE) -> SimulatedVolume:
    """EC2 AttachVolume, then what EC2 does with KMS."""
    ws.client("ec2").attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
    return after_attach_volume(ws, volume_id, instance_id)


def after_attach_volume(ws, volume_id: str, instance_id: str) -> SimulatedVolume:
    """What EC2 does with KMS once AttachVolume returned (simulated except on aws)."""
    sim = volume(volume_id)
    if not sim.simulated:
        sim.instance_id = instance_id
        return sim
    if sim.key_in_memory:
        return sim  # already attached and decrypted
    kms = ws.client("kms")
    with audit.acting_as(EC2_SERVICE, volumeId=volume_id, step="AttachVolume"):
        grant = kms.create_grant(
            KeyId=sim.key_arn,
            GranteePrincipal=infrastructure_principal(ws, instance_id),
            Operations=["Decrypt"],
            Constraints={"EncryptionContextSubset": dict(sim.encryption_context)},
        )
    with audit.acting_as(
        EC2_SERVICE, identity=infrastructure_identity(ws, instance_id), volumeId=volume_id, step="AttachVolume"
    ):
        answer = kms.decrypt(
            CiphertextBlob=sim.encrypted_data_key,
            KeyId=sim.key_arn,
            EncryptionContext=dict(sim.encryption_context),
            GrantTokens=[grant["GrantToken"]],
        )
    plaintext = answer.pop("Plaintext")
    with _lock:
        sim._data_key = bytearray(plaintext)
        sim.instance_id = instance_id
        sim.grant_id = grant.get("GrantId")
    del plaintext, answer
    _save(sim)
    return sim


# --- 4. detachment ------------------------------------------------------------------------


def detach_volume(ws, volume_id: str) -> SimulatedVolume:
    """EC2 DetachVolume, then the in-memory data key is dropped."""
    sim = volume(volume_id)
    kwargs = {"VolumeId": volume_id}
    if sim.instance_id:  # moto needs the instance named (AWS does not)
        kwargs["InstanceId"] = sim.instance_id
    ws.client("ec2").detach_volume(**kwargs)
    return after_detach_volume(ws, volume_id)


def after_detach_volume(ws, volume_id: str) -> SimulatedVolume:
    sim = volume(volume_id)
    with _lock:
        if sim._data_key is not None:
            for i in range(len(sim._data_key)):
                sim._data_key[i] = 0
        sim._data_key = None
        sim.instance_id = None
    _save(sim)
    return sim


def forget(volume_id: str) -> None:
    """Drop the simulation's state for a deleted volume (cleanup calls this)."""
    with _lock:
        sim = _volumes.pop(volume_id, None)
    store = records_store()
    if store is not None:
        store.delete_record(_RECORD_KIND, volume_id)
    if sim is not None and sim._data_key is not None:
        for i in range(len(sim._data_key)):
            sim._data_key[i] = 0


# --- 3. blocks ----------------------------------------------------------------------------


def _xts_key(sim: SimulatedVolume) -> bytes:
    if not sim.simulated:
        raise WorkshopError(
            "on the aws backend the real EBS encrypts blocks inside the EC2 hypervisor; "
            "the simulation does not pretend to: write to the volume from the instance."
        )
    if sim._data_key is None and sim.attached:
        raise WorkshopError(
            f"{sim.volume_id} is attached to {sim.instance_id}, but its data key is in the memory of the kernel "
            "that attached it, not this one's: attach it here (ebs.after_attach_volume), as a new host "
            "would, and EC2 asks KMS to Decrypt it again."
        )
    if sim._data_key is None:
        raise WorkshopError(
            f"{sim.volume_id} is not attached: no instance holds its data key in memory, so its "
            "blocks can be neither read nor written (attach it: EC2 then asks KMS to Decrypt)."
        )
    return bytes(sim._data_key)


def _cipher(sim: SimulatedVolume, index: int):
    # deferred: cryptography's ciphers load with moto, not on import
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(_xts_key(sim)), modes.XTS(index.to_bytes(16, "little")))


def _check_index(index: int) -> None:
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise WorkshopError(f"block index must be a non-negative integer, not {index!r}")


def write_block(volume_id: str, index: int, data: bytes) -> bytes:
    """Encrypt `data` (up to 4096 bytes, zero-padded) into block `index`; returns what is
    stored on the simulated disk (the ciphertext, 4096 bytes)."""
    _check_index(index)
    data = bytes(data)
    if len(data) > BLOCK_SIZE:
        raise WorkshopError(f"a block holds {BLOCK_SIZE} bytes, not {len(data)}")
    sim = volume(volume_id)
    encryptor = _cipher(sim, index).encryptor()
    stored = encryptor.update(data.ljust(BLOCK_SIZE, b"\0")) + encryptor.finalize()
    with _lock:
        sim._blocks[index] = stored
    _save(sim)
    return stored


def read_block(volume_id: str, index: int) -> bytes:
    """Decrypt block `index` (4096 bytes; a block never written reads as zeros)."""
    _check_index(index)
    sim = volume(volume_id)
    cipher = _cipher(sim, index)
    with _lock:
        stored = sim._blocks.get(index)
    if stored is None:
        return bytes(BLOCK_SIZE)
    decryptor = cipher.decryptor()
    return decryptor.update(stored) + decryptor.finalize()


def stored_block(volume_id: str, index: int) -> bytes | None:
    """What the simulated disk holds for block `index`: ciphertext only (or None)."""
    _check_index(index)
    with _lock:
        return volume(volume_id)._blocks.get(index)


# --- on aws: the real events ---------------------------------------------------------------


def cloudtrail_events(ws, volume_id: str, *, minutes: int = 60, max_events: int = 200) -> list[dict]:
    """aws only: KMS events in the real CloudTrail whose encryption context names the volume.

    CloudTrail typically shows an event some minutes after the call; an empty list right
    after creating the volume is normal.
    """
    if simulation_active(ws):
        raise WorkshopError(
            "CloudTrail is not simulated on this backend: use ws.trail(), where the simulated EBS calls appear at once."
        )
    client = ws.client("cloudtrail")
    start = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(minutes=minutes)
    found: list[dict] = []
    paginator = client.get_paginator("lookup_events")
    pages = paginator.paginate(
        LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}],
        StartTime=start,
        PaginationConfig={"MaxItems": max_events, "PageSize": 50},
    )
    for page in pages:
        for event in page.get("Events", []):
            record = json.loads(event.get("CloudTrailEvent") or "{}")
            context = (record.get("requestParameters") or {}).get("encryptionContext") or {}
            constraints = ((record.get("requestParameters") or {}).get("constraints") or {}).get(
                "encryptionContextSubset"
            ) or {}
            if volume_id in (context.get(CONTEXT_KEY), constraints.get(CONTEXT_KEY)):
                found.append(record)
    return found
