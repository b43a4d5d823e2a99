"""Solution to the exercise of notebook 05: the KMS calls made for one EBS volume.

EBS and EC2 put the volume id in the encryption context of every KMS call they make for a
volume, so the trail (or CloudTrail) can be searched by it. A grant carries the context in
its constraints instead.
"""


def calls_for_volume(records, volume_id):
    names = []
    for record in records:
        params = record.get("requestParameters") or {}
        context = params.get("encryptionContext") or {}
        constraints = params.get("constraints") or {}
        subset = constraints.get("encryptionContextSubset") or {}
        if context.get("aws:ebs:id") == volume_id or subset.get("aws:ebs:id") == volume_id:
            names.append(record["eventName"])
    return names
