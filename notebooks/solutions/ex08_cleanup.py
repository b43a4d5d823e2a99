"""Exercise 08: the shortest deletion waiting period, and the key's state during it.

The alias is gone after the cleanup, so the key is asked for by its id.

How to use it: try the exercise first. Then, in an empty cell of notebook 08 (the
notebook runs in notebooks/, so `solutions` can be imported), run

    from solutions.ex08_cleanup import solve
    minimum_days, state = solve(ws, key.key_id)
    check_cleanup_quiz(minimum_days, state)

or type `%load solutions/ex08_cleanup.py` in an empty cell to paste the code in and read it.
"""


def solve(ws, key_id):
    minimum_days = 7   # PendingWindowInDays accepts 7 to 30
    state = ws.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
    return minimum_days, state
