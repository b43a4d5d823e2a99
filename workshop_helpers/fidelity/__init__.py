"""Makes moto behave like real KMS on the workshop's paths (issue B fills this in).

`apply()` patches moto's backend models once per process, so in-process clients and the
local endpoint (`serve`) behave the same.
"""

from __future__ import annotations

_applied = False


def apply() -> None:
    """Apply the fidelity patches to moto, once per process."""
    global _applied
    _applied = True
