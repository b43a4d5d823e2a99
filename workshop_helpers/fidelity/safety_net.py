"""No moto crash reaches the learner: anything unforeseen in a KMS request becomes
KMSInternalException with a one-line message.

Known crashes are fixed where they happen (known_crashes.py), each with a test; this is
the net under them. Real KMS sends KMSInternalException with HTTP 500, which botocore
retries silently; it is sent with 400 here so the learner sees it at once, and the same
way in-process and over the endpoint.
"""

from __future__ import annotations

import logging

from .exceptions import KMSInternalException

log = logging.getLogger("workshop_helpers.fidelity")


def internal_error_response(self, exc: BaseException):
    """The (status, headers, body) of a KMSInternalException for `exc`."""
    action = _action_name(self)
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    log.warning("simulated KMS failed on %s: %s", action, detail)
    error = KMSInternalException(
        f"The workshop's simulated KMS failed on {action} ({detail}); this is a bug in the "
        "simulation, not in your code: real KMS would not fail here."
    )
    # Not set yet if the request failed inside moto's setup_class, which sets it.
    headers = dict(vars(self).get("response_headers") or {})
    headers.update(dict(error.get_headers()))
    headers["status"] = str(error.code)
    return error.code, headers, error.get_body()


def _action_name(self) -> str:
    try:
        return self._get_action() or "a request"
    except Exception:  # noqa: BLE001 - the request may be too broken to name
        return "a request"


def install() -> None:
    from moto.kms.responses import KmsResponse

    original = KmsResponse._dispatch

    def _dispatch(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the net: every crash becomes a KMS error
            return internal_error_response(self, exc)

    KmsResponse._dispatch = _dispatch
