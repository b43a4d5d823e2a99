"""Find and remove what the workshop created; report it as data.

`cleanup(ws)` schedules the workshop's KMS keys for deletion (7 days, the shortest window
KMS allows) and removes their aliases, the EBS volumes, instances and S3 buckets the
workshop tagged, the participant's role (policies detached first), the workshop's IAM
policies, the kept copies of imported key material and the local workshop-data files.
It returns a `CleanupReport` listing every action; running it again finds nothing left to
do and says so.

What counts as the workshop's:
- everything whose tags `names.is_ours` accepts (the `kms-workshop` tag, and the
  participant's tag equal to KMS_WORKSHOP_PARTICIPANT: absent when it is not set);
- on moto and the local endpoint also the key behind `names.key_alias()` and the role and
  policies with the workshop's names;
- on aws strictly tagged resources only: a key, role or policy without the workshop's tag
  is left alone (and reported as skipped), even if its name matches.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from . import fixtures, names
from .display.tables import table
from .errors import aws_error_code
from .fidelity import backend_exists

DELETION_WINDOW_DAYS = 7


@dataclass
class Action:
    kind: str  # "KMS key", "alias", "EBS volume", "instance", "S3 bucket", "IAM role", ...
    name: str
    done: str  # what was done, in words


@dataclass(repr=False)
class CleanupReport:
    backend: str
    actions: list[Action] = field(default_factory=list)
    skipped: list[Action] = field(default_factory=list)
    errors: list[Action] = field(default_factory=list)
    dry_run: bool = False

    def add(self, kind: str, name: str, done: str) -> None:
        self.actions.append(Action(kind, name, done))

    def skip(self, kind: str, name: str, why: str) -> None:
        self.skipped.append(Action(kind, name, why))

    def fail(self, kind: str, name: str, error: str) -> None:
        self.errors.append(Action(kind, name, error))

    @property
    def nothing_to_do(self) -> bool:
        return not self.actions and not self.errors

    def rows(self) -> list[tuple[str, str, str]]:
        return [(a.kind, a.name, a.done) for a in self.actions]

    def summary(self) -> str:
        if self.nothing_to_do:
            return "Nothing left to clean up: the workshop's resources are already gone or scheduled for deletion."
        verb = "would clean up" if self.dry_run else "cleaned up"
        text = f"{verb} {len(self.actions)} item(s)"
        if self.errors:
            text += f"; {len(self.errors)} could not be removed"
        return text[0].upper() + text[1:] + "."

    def text(self) -> str:
        lines = [self.summary()]
        lines += [f"  {a.kind}: {a.name}: {a.done}" for a in self.actions]
        lines += [f"  skipped {a.kind}: {a.name}: {a.done}" for a in self.skipped]
        lines += [f"  FAILED {a.kind}: {a.name}: {a.done}" for a in self.errors]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = [f"<p><strong>{self.summary()}</strong></p>"]
        if self.actions:
            parts.append(table(self.rows(), ("What", "Name", "Done"), "Removed or scheduled for deletion").html())
        if self.skipped:
            parts.append(
                table([(a.kind, a.name, a.done) for a in self.skipped], ("What", "Name", "Why"), "Left alone").html()
            )
        if self.errors:
            parts.append(
                table(
                    [(a.kind, a.name, a.done) for a in self.errors], ("What", "Name", "Error"), "Could not be removed"
                ).html()
            )
        return "".join(parts)


def _ec2_tag_filters() -> list[dict]:
    return [{"Name": f"tag:{k}", "Values": [v]} for k, v in names.tags().items()]


# --- KMS ---------------------------------------------------------------------------------


def _workshop_keys(ws, kms, report: CleanupReport) -> list[dict]:
    """Metadata of the workshop's customer managed keys."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    found: dict[str, dict] = {}
    paginator = kms.get_paginator("list_keys")
    for page in paginator.paginate():
        for entry in page["Keys"]:
            key_id = entry["KeyId"]
            try:
                meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            except ClientError:
                continue
            if meta.get("KeyManager") == "AWS":
                continue
            if fixtures.is_workshop_key(kms, key_id):
                found[key_id] = meta
    # The key behind the workshop's alias, tagged or not (not on aws: tags only there).
    try:
        meta = kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]
    except ClientError:
        meta = None
    if meta and meta["KeyId"] not in found:
        if ws.backend == "aws":
            report.skip("KMS key", meta["KeyId"], f"behind {names.key_alias()} but not tagged by the workshop")
        else:
            found[meta["KeyId"]] = meta
    return list(found.values())


def _clean_kms(ws, report: CleanupReport) -> None:
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    kms = ws.client("kms")
    keys = _workshop_keys(ws, kms, report)
    key_ids = {m["KeyId"] for m in keys}
    # Aliases first: the workshop's alias, and any other alias pointing at its keys.
    paginator = kms.get_paginator("list_aliases")
    for page in paginator.paginate():
        for alias in page["Aliases"]:
            name = alias["AliasName"]
            if name.startswith("alias/aws/"):
                continue
            target = alias.get("TargetKeyId")
            if target in key_ids or (name == names.key_alias() and ws.backend != "aws"):
                if report.dry_run:
                    report.add("alias", name, "would be deleted")
                    continue
                try:
                    kms.delete_alias(AliasName=name)
                    report.add("alias", name, "deleted")
                except ClientError as exc:
                    if aws_error_code(exc) != "NotFoundException":
                        report.fail("alias", name, f"{aws_error_code(exc)}: {exc}")
    for meta in keys:
        key_id, state = meta["KeyId"], meta["KeyState"]
        if state in ("PendingDeletion", "PendingReplicaDeletion"):
            had_copy = fixtures.kept_key_material(ws, key_id) is not None
            if had_copy and not report.dry_run:
                fixtures.forget_key_material(ws, key_id)
                report.add("key material copy", key_id, "deleted (the key is already pending deletion)")
            continue
        if report.dry_run:
            report.add("KMS key", key_id, f"would be scheduled for deletion in {DELETION_WINDOW_DAYS} days")
            continue
        try:
            response = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=DELETION_WINDOW_DAYS)
            when = response.get("DeletionDate")
            detail = f" (on {when:%Y-%m-%d})" if hasattr(when, "strftime") else ""
            report.add("KMS key", key_id, f"scheduled for deletion in {DELETION_WINDOW_DAYS} days{detail}")
        except ClientError as exc:
            report.fail("KMS key", key_id, f"{aws_error_code(exc)}: {exc}")
            continue
        if fixtures.forget_key_material(ws, key_id):
            report.add("key material copy", key_id, "deleted")


# --- EC2 and S3 --------------------------------------------------------------------------


def _moto_ec2_untouched(ws) -> bool:
    """On moto with a throw-away account (memory): was EC2 never used in this process? Then
    there is nothing to remove, and listing would only make moto build its EC2 backend
    (seconds of loading images). An account on disk may hold another kernel's volumes."""
    if ws.backend != "moto" or ws.state_dir is not None:
        return False
    return not backend_exists("ec2", ws.account_id, ws.region)


def _clean_ec2(ws, report: CleanupReport) -> None:
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    if _moto_ec2_untouched(ws):
        return
    ec2 = ws.client("ec2")
    volumes = ec2.describe_volumes(Filters=_ec2_tag_filters()).get("Volumes", [])
    volumes = [v for v in volumes if names.is_ours(names.tag_dict(v.get("Tags")))]
    for vol in volumes:
        vol_id = vol["VolumeId"]
        if report.dry_run:
            report.add("EBS volume", vol_id, "would be detached and deleted")
            continue
        try:
            for attachment in vol.get("Attachments", []):
                if attachment.get("State") in ("attached", "attaching"):
                    ec2.detach_volume(VolumeId=vol_id, InstanceId=attachment["InstanceId"], Force=True)
            if vol.get("Attachments") and ws.backend == "aws":
                ec2.get_waiter("volume_available").wait(
                    VolumeIds=[vol_id], WaiterConfig={"Delay": 5, "MaxAttempts": 24}
                )
            ec2.delete_volume(VolumeId=vol_id)
            report.add("EBS volume", vol_id, "deleted")
        except ClientError as exc:
            if aws_error_code(exc) != "InvalidVolume.NotFound":
                report.fail("EBS volume", vol_id, f"{aws_error_code(exc)}: {exc}")
        except Exception as exc:  # noqa: BLE001 - a waiter timeout, reported not raised
            report.fail("EBS volume", vol_id, str(exc))
    if ws.backend == "aws":
        return  # the workshop never launches instances in a real account
    found = ec2.describe_instances(
        Filters=_ec2_tag_filters()
        + [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )
    for reservation in found.get("Reservations", []):
        for inst in reservation.get("Instances", []):
            if not names.is_ours(names.tag_dict(inst.get("Tags"))):
                continue
            if report.dry_run:
                report.add("instance", inst["InstanceId"], "would be terminated")
                continue
            try:
                ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
                report.add("instance", inst["InstanceId"], "terminated (simulated instance)")
            except ClientError as exc:
                report.fail("instance", inst["InstanceId"], f"{aws_error_code(exc)}: {exc}")


def _clean_s3(ws, report: CleanupReport) -> None:
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    s3 = ws.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if not name.startswith("kms-workshop-"):
            continue
        try:
            tags = names.tag_dict(s3.get_bucket_tagging(Bucket=name)["TagSet"])
        except ClientError:
            tags = {}
        if not names.is_ours(tags):
            report.skip("S3 bucket", name, "not tagged by the workshop (or by this participant)")
            continue
        if report.dry_run:
            report.add("S3 bucket", name, "would be emptied and deleted")
            continue
        try:
            count = 0
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
                batch = [
                    {"Key": o["Key"], "VersionId": o["VersionId"]}
                    for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                if batch:
                    s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
                    count += len(batch)
            s3.delete_bucket(Bucket=name)
            report.add("S3 bucket", name, f"deleted with its {count} object version(s)")
        except ClientError as exc:
            if aws_error_code(exc) != "NoSuchBucket":
                report.fail("S3 bucket", name, f"{aws_error_code(exc)}: {exc}")


# --- IAM ---------------------------------------------------------------------------------


def _clean_iam(ws, report: CleanupReport) -> None:
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    iam = ws.client("iam")
    role = names.role_name()
    try:
        found = iam.get_role(RoleName=role)["Role"]
    except ClientError as exc:
        if aws_error_code(exc) != "NoSuchEntity":
            report.fail("IAM role", role, f"{aws_error_code(exc)}: {exc}")
        found = None
    if found is not None:
        tags = names.tag_dict(iam.list_role_tags(RoleName=role).get("Tags"))
        if ws.backend == "aws" and not names.is_ours(tags):
            report.skip("IAM role", role, "not tagged by the workshop")
        elif report.dry_run:
            report.add("IAM role", role, "would have its policies detached and be deleted")
        else:
            try:
                for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
                    for pol in page["AttachedPolicies"]:
                        iam.detach_role_policy(RoleName=role, PolicyArn=pol["PolicyArn"])
                        report.add("policy attachment", f"{pol['PolicyName']} on {role}", "detached")
                for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
                    for pol_name in page["PolicyNames"]:
                        iam.delete_role_policy(RoleName=role, PolicyName=pol_name)
                        report.add("inline policy", f"{pol_name} of {role}", "deleted")
                for profile in iam.list_instance_profiles_for_role(RoleName=role).get("InstanceProfiles", []):
                    iam.remove_role_from_instance_profile(
                        InstanceProfileName=profile["InstanceProfileName"], RoleName=role
                    )
                    report.add("instance profile", profile["InstanceProfileName"], f"{role} removed from it")
                iam.delete_role(RoleName=role)
                report.add("IAM role", role, "deleted")
            except ClientError as exc:
                if aws_error_code(exc) != "NoSuchEntity":
                    report.fail("IAM role", role, f"{aws_error_code(exc)}: {exc}")

    for name in (names.additional_policy_name(), names.context_policy_name()):
        arn = fixtures.policy_arn(ws, name)
        try:
            policy = iam.get_policy(PolicyArn=arn)["Policy"]
        except ClientError as exc:
            if aws_error_code(exc) != "NoSuchEntity":
                report.fail("IAM policy", name, f"{aws_error_code(exc)}: {exc}")
            continue
        tags = names.tag_dict(policy.get("Tags") or iam.list_policy_tags(PolicyArn=arn).get("Tags"))
        if ws.backend == "aws" and not names.is_ours(tags):
            report.skip("IAM policy", name, "not tagged by the workshop")
            continue
        if report.dry_run:
            report.add("IAM policy", name, "would be detached everywhere and deleted")
            continue
        try:
            entities = iam.list_entities_for_policy(PolicyArn=arn)
            for r in entities.get("PolicyRoles", []):
                iam.detach_role_policy(RoleName=r["RoleName"], PolicyArn=arn)
            for u in entities.get("PolicyUsers", []):
                iam.detach_user_policy(UserName=u["UserName"], PolicyArn=arn)
            for g in entities.get("PolicyGroups", []):
                iam.detach_group_policy(GroupName=g["GroupName"], PolicyArn=arn)
            for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=arn)
            report.add("IAM policy", name, "deleted")
        except ClientError as exc:
            if aws_error_code(exc) != "NoSuchEntity":
                report.fail("IAM policy", name, f"{aws_error_code(exc)}: {exc}")


# --- local files -------------------------------------------------------------------------


def _clean_local(report: CleanupReport) -> None:
    data_dir = fixtures.workshop_data_path()
    if not data_dir.exists():
        return
    files = [p for p in data_dir.rglob("*") if p.is_file() and p.name != ".gitignore"]
    if report.dry_run:
        for path in sorted(files):
            report.add("local file", path.name, "would be deleted")
        return
    for path in sorted(files):
        report.add("local file", path.name, "deleted")
    try:
        shutil.rmtree(data_dir)
    except OSError as exc:
        report.fail("local folder", str(data_dir), str(exc))


# --- the whole -------------------------------------------------------------------------


def cleanup(ws, *, local_files: bool = True, dry_run: bool = False) -> CleanupReport:
    """Remove or schedule for deletion everything the workshop created; safe to repeat.

    Each part (KMS, EC2, S3, IAM, local files) runs even if an earlier one failed; failures
    are listed in `report.errors` rather than raised.
    """
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import BotoCoreError, ClientError

    report = CleanupReport(ws.backend, dry_run=dry_run)
    # Volumes before keys: on aws a volume can only be deleted while its key still works.
    parts = [("EC2", _clean_ec2), ("S3", _clean_s3), ("KMS", _clean_kms), ("IAM", _clean_iam)]
    for what, part in parts:
        try:
            part(ws, report)
        except (ClientError, BotoCoreError) as exc:
            code = aws_error_code(exc) or type(exc).__name__
            report.fail(what, "(listing)", f"{code}: {exc}")
    if local_files:
        _clean_local(report)
    return report
