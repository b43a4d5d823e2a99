"""Exercise 08: the shortest deletion waiting period, and the key's state during it.

In the notebook:  minimum_days, state = solve(ws, key.key_id)
(The alias is gone after the cleanup, so ask by key id.)
"""


def solve(ws, key_id):
    minimum_days = 7   # PendingWindowInDays accepts 7 to 30
    state = ws.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    return minimum_days, state
