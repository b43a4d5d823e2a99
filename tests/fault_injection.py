"""Test-only: the local endpoint with KMS requests answered by an injected error.

    python tests/fault_injection.py --inject-error CODE[:OPERATION[:COUNT]] [serve's options]

runs `python -m workshop_helpers serve` with its WSGI app wrapped in `FaultInjector`. It
lives with the tests, outside the package, so that nothing a learner runs can inject faults.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from workshop_helpers.errors import WorkshopError


class FaultInjector:
    """Test-only WSGI middleware: KMS requests answered with an error, as KMS words it.

    `spec` is ``CODE[:OPERATION[:COUNT]]``: the error code (ThrottlingException, ...), the KMS
    operation it applies to (any, if left out) and how many requests fail before the rest
    go through (all, if left out). Answers are HTTP 400 with KMS's JSON error shape, which
    botocore turns into a ClientError with that code (and retries, for throttling).
    """

    def __init__(self, app, spec: str):
        parts = spec.split(":")
        if not parts[0] or len(parts) > 3 or (len(parts) == 3 and not parts[2].isdigit()):
            raise WorkshopError(f"--inject-error {spec!r} is not CODE[:OPERATION[:COUNT]]")
        self.app = app
        self.code = parts[0]
        self.operation = parts[1] if len(parts) > 1 and parts[1] else None
        self.remaining = int(parts[2]) if len(parts) == 3 else None
        self.injected = 0
        self._lock = threading.Lock()

    def _applies(self, environ) -> bool:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("TrentService."):
            return False
        if self.operation and target.split(".", 1)[1] != self.operation:
            return False
        with self._lock:
            if self.remaining is not None:
                if self.remaining <= 0:
                    return False
                self.remaining -= 1
            self.injected += 1
        return True

    def __call__(self, environ, start_response):
        if not self._applies(environ):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)  # drain the request body
        body = json.dumps(
            {
                "__type": self.code,
                "message": "Rate exceeded"
                if "Throttl" in self.code
                else f"{self.code} (injected by the test endpoint)",
            }
        ).encode()
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000"),
            ],
        )
        return [body]


def main(argv: list[str] | None = None) -> int:
    from workshop_helpers.cli import build_parser, serve

    outer = argparse.ArgumentParser(add_help=False)
    outer.add_argument("--inject-error", required=True, metavar="CODE[:OPERATION[:COUNT]]")
    known, rest = outer.parse_known_args(argv)
    try:
        FaultInjector(None, known.inject_error)  # a malformed spec is refused before anything starts
    except WorkshopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(["serve", *rest])
    print(
        f"WARNING: TEST MODE: KMS requests are answered with {known.inject_error}; never use this outside tests.",
        file=sys.stderr,
        flush=True,
    )
    return serve.run(args, wrap_app=lambda app: FaultInjector(app, known.inject_error))


if __name__ == "__main__":
    sys.exit(main())
