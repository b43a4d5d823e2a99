"""`serve --verbose`: one log line per request, with every secret in it masked.

A request line can carry credentials: the instructor's token (`?token=`), a presigned
URL's signature, credential, session token or SigV2 access key id. The log masks their
values, so a log shared to debug a class never hands out access. No header value is
logged except X-Amz-Target (which operation a JSON API call is), so the instructor's
X-Kms-Workshop-Token header and the Authorization header never reach it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

LOGGER = "workshop_helpers.serving.access"
MASK = "***"

_SECRET_VALUES = re.compile(
    r"(?i)((?:^|[?&;\s])(?:token|signature|x-amz-signature|x-amz-credential|x-amz-security-token|awsaccesskeyid)=)"
    r"[^&;\s\"]*"
)


def mask_secrets(text: str) -> str:
    """`text` with the value of every secret query parameter replaced by ***."""
    return _SECRET_VALUES.sub(lambda m: m.group(1) + MASK, text)


def log_requests(app: Callable, logger: logging.Logger | None = None) -> Callable:
    """`app`, logging one line per request at INFO (only shown with --verbose)."""
    log = logger or logging.getLogger(LOGGER)

    def application(environ, start_response):
        if not log.isEnabledFor(logging.INFO):
            return app(environ, start_response)
        started = time.perf_counter()
        seen: dict[str, str] = {}

        def record(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        try:
            return app(environ, record)
        finally:
            target = environ.get("HTTP_X_AMZ_TARGET")
            uri = environ.get("REQUEST_URI") or (
                environ.get("PATH_INFO", "/") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
            )
            log.info(
                '%s "%s %s" %s %.1f ms%s',
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", "-"),
                mask_secrets(uri),
                seen.get("status", "-"),
                (time.perf_counter() - started) * 1000,
                f" {target}" if target else "",
            )

    return application
