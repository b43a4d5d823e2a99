"""Solution to the exercise of notebook 05: the KMS calls made for one EBS volume.

EBS and EC2 put the volume id in the encryption context of every KMS call they make for a
volume, so the trail (or CloudTrail) can be searched by it. A grant carries the context in
its constraints instead.

How to use it: try the exercise first. Then, in an empty cell of notebook 05 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex05_calls_for_volume import calls_for_volume
    check_calls_for_volume(calls_for_volume, records=ws.trail(), volume_id=volume_id)

or type `%load solutions/ex05_calls_for_volume.py` in an empty cell to paste the code in and read it.
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
