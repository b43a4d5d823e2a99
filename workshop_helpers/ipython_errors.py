"""AWS errors in a notebook as one readable line and what to do, instead of a botocore traceback.

`install()` (called by `connect()` when it runs inside IPython) registers a handler with
IPython's `set_custom_exc` for botocore's `ClientError` and `BotoCoreError`. An uncaught one
then shows as a single line that keeps the error's name::

    EndpointConnectionError: cannot reach the endpoint at http://127.0.0.1:5000 (it stopped, or
    the network is down). Start it again with `python -m workshop_helpers serve` on the same
    port, then run this cell again. (%tb shows the full traceback.)

The cell still fails (the error is reported as an error, with its `ename`), so nbval, nbclient
and "Run All" stop as before; expected failures shown with `display.expect_error` never reach
this handler. `%tb` still prints the whole traceback.
"""

from __future__ import annotations

import sys

from .errors import aws_error_code, aws_error_message, one_line

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "LimitExceededException",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    }
)
KEY_STATE_CODES = frozenset({"KMSInvalidStateException", "DisabledException", "NotFoundException"})

_TB_HINT = " (%tb shows the full traceback.)"


def _endpoint_of(exc: BaseException) -> str:
    url = (getattr(exc, "kwargs", None) or {}).get("endpoint_url") or ""
    return str(url).rstrip("/")


def explain(exc: BaseException) -> str | None:
    """One line: what went wrong and what to do, for a botocore error; None for others."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore import exceptions as bex

    if isinstance(exc, bex.ClientError):
        code = aws_error_code(exc) or "Error"
        message = one_line(aws_error_message(exc))
        operation = getattr(exc, "operation_name", None) or "the call"
        said = f"{operation} was refused with {code}" + (f": {message}" if message else "")
        if code in THROTTLING_CODES:
            return (
                f"{operation} was throttled ({code}): KMS is getting more requests per second than its "
                "quota allows. Wait a few seconds and run this cell again; in a loop, slow down or "
                "back off and retry."
            )
        if code in CREDENTIAL_CODES:
            return (
                f"{said}. The credentials are missing, wrong or expired: refresh them (aws sso login, "
                "new temporary credentials) and restart the kernel."
            )
        if code in ("AccessDeniedException", "AccessDenied"):
            return (
                f"{said}. The caller lacks a permission: check the IAM policy (notebook 02 shows how "
                "one is added) or run the call as another identity."
            )
        if code in KEY_STATE_CODES:
            return (
                f"{said}. The KMS key is missing, disabled or scheduled for deletion: run the "
                "notebook's first cell again, which repairs or recreates the ImportedCMK."
            )
        return f"{said}."
    if isinstance(exc, (bex.EndpointConnectionError, bex.ConnectionClosedError)):
        where = _endpoint_of(exc)
        return (
            f"cannot reach {'the endpoint at ' + where if where else 'the AWS endpoint'} (it stopped, or the "
            "network is down). On the endpoint backend start it again with `python -m workshop_helpers "
            "serve` on the same port; on aws check the network. Then run this cell again."
        )
    if isinstance(exc, (bex.ConnectTimeoutError, bex.ReadTimeoutError)):
        where = _endpoint_of(exc)
        return (
            f"no answer from {where or 'the endpoint'} in time: the endpoint or the network is too slow or "
            "gone. Check that it runs, then run this cell again."
        )
    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
        return (
            "no AWS credentials found: configure them (aws configure, aws sso login or AWS_PROFILE) and "
            "restart the kernel, or use the moto backend."
        )
    if isinstance(exc, bex.BotoCoreError):
        return one_line(str(exc)) or type(exc).__name__
    return None


def _handler(shell, etype, value, tb, tb_offset=None):
    """IPython custom exception handler: one line, the error's name kept."""
    try:
        line = explain(value)
    except Exception:  # noqa: BLE001 - never hide the original error behind our own
        line = None
    if line is None:
        return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # for %tb
    stb = [f"{etype.__name__}: {line}{_TB_HINT}"]
    shell._showtraceback(etype, value, stb)
    return stb


def install(shell=None) -> bool:
    """Register the handler with the running IPython shell, if there is one. Idempotent.
    Returns True when installed (False outside IPython)."""
    if shell is None:
        if "IPython" not in sys.modules:  # never import IPython in plain processes (CLI, tests)
            return False
        try:
            # deferred: start-up (IPython only in a kernel)
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import BotoCoreError, ClientError

    shell.set_custom_exc((ClientError, BotoCoreError), _handler)
    return True


__all__ = ["explain", "install"]
