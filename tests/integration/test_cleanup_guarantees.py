"""Cleanup, after the whole workshop: nothing the workshop created is left usable, running it
twice is harmless, and on the aws backend it touches only what the workshop tagged.

- moto: notebooks 01..07 in ONE kernel, then notebook 08, then notebook 08 again.
- aws: the same on an "aws" Workshop whose session is moto-backed, in an account where
  "someone else" made an untagged key (with an alias), a key tagged for another participant,
  a role with a policy, a bucket named like the workshop's, and a volume: all must survive.
- endpoint: notebooks 01..07 in one kernel over `serve`, then `python -m workshop_helpers
  cleanup` twice.

"Left usable" means: a customer key that is not PendingDeletion with the 7-day window, an
alias, a volume, a running instance, a bucket, a role or a customer managed policy, a local
workshop file or a kept copy of key material.
"""

from __future__ import annotations

import json

import pytest
import workshop_run

DELETION_WINDOW = 7


def _strangers(run) -> dict:
    path = run.spy / f"{run.label}.strangers.json"
    return (
        json.loads(path.read_text())
        if path.exists()
        else {k: [] for k in ("keys", "aliases", "roles", "policies", "buckets", "volumes")}
    )


def assert_nothing_left(inventory: dict, strangers: dict) -> None:
    for key in inventory["keys"]:
        if key["id"] in strangers["keys"]:
            continue
        assert key["state"] == "PendingDeletion", key
        assert key["window"] == DELETION_WINDOW, key
        assert DELETION_WINDOW - 0.1 < key["days_left"] <= DELETION_WINDOW + 0.01, key
    assert [a for a in inventory["aliases"] if a["name"] not in strangers["aliases"]] == []
    assert [v for v in inventory["volumes"] if v["id"] not in strangers["volumes"]] == []
    assert [i for i in inventory["instances"] if i["state"] not in ("terminated", "shutting-down")] == []
    assert [b for b in inventory["buckets"] if b["name"] not in strangers["buckets"]] == []
    assert [r for r in inventory["roles"] if r["name"] not in strangers["roles"]] == []
    assert [p for p in inventory["policies"] if p["name"] not in strangers["policies"]] == []
    assert inventory["local_files"] == []
    assert inventory["key_material_files"] == []


def assert_workshop_was_there(inventory: dict, strangers: dict) -> None:
    """Before cleanup the workshop's resources exist: the checks after it are not vacuous."""
    own_keys = [k for k in inventory["keys"] if k["id"] not in strangers["keys"]]
    assert len([k for k in own_keys if k["state"] == "Enabled"]) >= 2  # ImportedCMK and the "other" key
    assert len([a for a in inventory["aliases"] if a["name"] not in strangers["aliases"]]) >= 2
    assert [v for v in inventory["volumes"] if v["id"] not in strangers["volumes"]]
    assert [b for b in inventory["buckets"] if b["name"] not in strangers["buckets"]]
    assert [r for r in inventory["roles"] if r["name"] not in strangers["roles"]]
    assert len([p for p in inventory["policies"] if p["name"] not in strangers["policies"]]) >= 2
    assert len(inventory["local_files"]) >= 5


@pytest.mark.parametrize("backend", ["moto", "aws"])
def test_notebook_08_after_the_whole_workshop_leaves_nothing(backend):
    run = workshop_run.whole_workshop(backend)
    strangers = _strangers(run)
    assert_workshop_was_there(run.inventory("before-cleanup"), strangers)
    assert_nothing_left(run.inventory("after-cleanup-1"), strangers)


@pytest.mark.parametrize("backend", ["moto", "aws"])
def test_notebook_08_twice_is_harmless(backend):
    """The second run of notebook 08 (its first cell makes a fresh key, as any notebook's
    does) ends as clean as the first; both reported no errors (asserted in the kernel)."""
    run = workshop_run.whole_workshop(backend)
    strangers = _strangers(run)
    first, second = run.inventory("after-cleanup-1"), run.inventory("after-cleanup-2")
    assert_nothing_left(second, strangers)
    assert {k["id"] for k in first["keys"]} <= {k["id"] for k in second["keys"]}
    assert all(
        k["state"] == "PendingDeletion"
        for k in second["keys"]
        if k["id"] in {x["id"] for x in first["keys"]} and k["id"] not in strangers["keys"]
    )


def test_on_aws_cleanup_touches_only_what_the_workshop_tagged():
    run = workshop_run.whole_workshop("aws")
    strangers = _strangers(run)
    assert strangers["keys"] and strangers["roles"] and strangers["buckets"] and strangers["volumes"]
    for point in ("after-cleanup-1", "after-cleanup-2"):
        inventory = run.inventory(point)
        keys = {k["id"]: k for k in inventory["keys"]}
        for key_id in strangers["keys"]:
            assert keys[key_id]["state"] == "Enabled", keys[key_id]
        assert set(strangers["aliases"]) <= {a["name"] for a in inventory["aliases"]}
        roles = {r["name"]: r for r in inventory["roles"]}
        for role in strangers["roles"]:
            assert roles[role]["attached"] == strangers["policies"], roles[role]
        assert set(strangers["policies"]) <= {p["name"] for p in inventory["policies"]}
        buckets = {b["name"]: b for b in inventory["buckets"]}
        for bucket in strangers["buckets"]:
            assert buckets[bucket]["objects"] == 1
        assert set(strangers["volumes"]) <= {v["id"] for v in inventory["volumes"]}


@pytest.mark.endpoint
def test_cli_cleanup_after_the_whole_workshop_over_the_endpoint():
    run = workshop_run.whole_workshop("endpoint")
    none = _strangers(run)
    assert_workshop_was_there(run.inventory("before-cleanup"), none)
    first, second = run.notes["cli"]
    assert first.returncode == 0, first.stderr
    assert "Cleaned up" in first.stdout and "scheduled for deletion in 7 days" in first.stdout
    assert_nothing_left(run.inventory("after-cleanup-1"), none)
    assert second.returncode == 0, second.stderr
    assert "Nothing left to clean up" in second.stdout
    assert_nothing_left(run.inventory("after-cleanup-2"), none)
    states = [
        {(k["id"], k["state"]) for k in run.inventory(point)["keys"]}
        for point in ("after-cleanup-1", "after-cleanup-2")
    ]
    assert states[0] == states[1], "the second cleanup changed keys"
