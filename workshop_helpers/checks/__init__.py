"""Self-checks for the notebooks' exercises.

Each `check_*` takes the learner's answer and returns a `CheckResult`: truthy when the
answer is right, falsy with a hint when it is not. A wrong answer never raises, so an
exercise cell left unsolved still runs (it shows the hint). The result renders as a short
message; `bool(result)` is what tests use. Worked solutions are in notebooks/solutions/
and are tested against these checks.

- envelope_steps.py: notebooks 01 to 04, 07 and 08
- sse_cse.py: notebooks 05 (server-side) and 06 (client-side)
- rotation.py: notebook 08 (rotating imported key material)
"""

from .envelope_steps import (
    EXERCISE_02_CONTEXT,
    EXERCISE_03_MESSAGE,
    EXERCISE_07_CONTEXT,
    EXERCISE_07_MESSAGE,
    check_cleanup_quiz,
    check_data_key_exercise,
    check_direct_encryption,
    check_hand_encryption,
    check_key_origin,
    check_recovered_secret,
    check_refusals,
)
from .result import CheckResult
from .rotation import check_material_of_blob
from .sse_cse import SAMPLE_ANSWER, check_calls_for_volume, check_decrypt_expecting

__all__ = [
    "EXERCISE_02_CONTEXT",
    "EXERCISE_03_MESSAGE",
    "EXERCISE_07_CONTEXT",
    "EXERCISE_07_MESSAGE",
    "SAMPLE_ANSWER",
    "CheckResult",
    "check_calls_for_volume",
    "check_cleanup_quiz",
    "check_data_key_exercise",
    "check_decrypt_expecting",
    "check_direct_encryption",
    "check_hand_encryption",
    "check_key_origin",
    "check_material_of_blob",
    "check_recovered_secret",
    "check_refusals",
]
