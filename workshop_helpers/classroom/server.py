"""A class on one endpoint: the participants, the gate, and the instructor's routes.

`Classroom` is handed to `start_endpoint(classroom=...)`. It wraps moto's app twice:

    instructor routes ( account.wsgi ( gate ( moto ) ) )

The gate runs inside the account's transaction (it sees the account as stored, and
verifies each signature, which covers the body); the outer layer runs outside it: it
refuses unsigned requests and unknown or malformed credentials from the headers and query
alone, before anything reads a body or takes an account's lock. It also serves the
instructor routes, outside the transaction because adding a participant is itself one IAM
write transaction (`Account.run("iam", True, ...)`), and writes the progress counts after
the request's own transaction has committed.

Instructor routes (all need the instructor token, `?token=` or the
`X-Kms-Workshop-Token` header; S3 bucket names cannot contain `_`, so no bucket is hidden):

- GET  /_workshop/class                the instructor's page (refreshes by itself)
- GET  /_workshop/class/status         the same, as JSON
- POST /_workshop/class/participants   body `name=NAME`: add a participant (no restart)
"""

from __future__ import annotations

import hmac
import json
import os
import pathlib
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from ..errors import ClassError
from . import files, gate, progress, roster, view

PREFIX = "/_workshop/class"
TOKEN_HEADER = "HTTP_X_KMS_WORKSHOP_TOKEN"


class Classroom:
    def __init__(self, names: list[str], directory: str | os.PathLike, *, region: str, public_url: str | None = None):
        if "MOTO_ACCOUNT_ID" in os.environ:
            raise ClassError("MOTO_ACCOUNT_ID is set: it would put every participant in one account; unset it")
        self.names = list(names)
        self.directory = files.prepare(directory)
        self.region = region
        self.public_url = public_url.rstrip("/") if public_url else None
        saved = files.load_class(self.directory)
        self.token = saved.get("token") or secrets.token_urlsafe(24)
        self.url = ""
        self.state = None
        self.progress: progress.Progress | None = None
        self._lock = threading.RLock()

    # --- starting -------------------------------------------------------------------------

    def open(self, url: str, state: Any | None) -> list[roster.Participant]:
        """Called by start_endpoint once the socket is bound: every participant of
        --participants exists (created if new), and has their env file."""
        self.url = self.public_url or url
        self.state = state
        # moto lets any account read a bucket of another account by name unless told not to
        os.environ["MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS"] = "false"
        self.progress = progress.Progress(state.store if state is not None else None)
        files.save_class(
            self.directory, {"url": url, "public_url": self.url, "region": self.region, "token": self.token}
        )
        made = [self.add(name)[0] for name in self.names]
        for participant in self.participants():  # earlier additions too: their URL may have changed
            files.write_env(self.directory, participant, self.url, self.region)
        return made

    def _iam_write(self, call: Callable[[], Any]) -> Any:
        with self._lock:
            if self.state is None:
                return call()
            return self.state.run("iam", True, call)

    def _read(self, call: Callable[[], Any]) -> Any:
        if self.state is None:
            return call()
        return self.state.run("kms", False, call)

    def add(self, name: str) -> tuple[roster.Participant, bool]:
        participant, created = self._iam_write(lambda: roster.ensure(name, self.region))
        files.write_env(self.directory, participant, self.url, self.region)
        return participant, created

    def participants(self) -> list[roster.Participant]:
        return self._read(roster.participants)

    def env_file(self, name: str) -> pathlib.Path:
        return self.directory / f"{name}.env"

    def instructor_url(self) -> str:
        return f"{self.url}{PREFIX}?token={self.token}"

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.flush()

    # --- the view ---------------------------------------------------------------------------

    def status(self) -> dict:
        def read():
            rows = []
            for p in roster.participants():
                counts = self.progress.counts(p.account_id) if self.progress else {}
                rows.append(
                    {
                        "name": p.name,
                        "account_id": p.account_id,
                        "steps": progress.steps_of(p.account_id, counts),
                        "calls": sum(counts.values()),
                        "errors": sum(n for label, n in counts.items() if not label.endswith(":ok")),
                        "last_seen": self.progress.last_seen(p.account_id) if self.progress else None,
                    }
                )
            return rows

        return {
            "steps": [{"id": s, "label": label, "derived_from": how} for s, label, how in progress.STEPS],
            "participants": self._read(read),
            "now": time.time(),
        }

    # --- WSGI -------------------------------------------------------------------------------

    def wrap_inner(self, app: Callable) -> Callable:
        return gate.wrap(app)

    def wrap_outer(self, app: Callable) -> Callable:
        def application(environ, start_response):
            path = environ.get("PATH_INFO", "/")
            if path == PREFIX or path.startswith(PREFIX + "/"):
                return self._instructor(environ, start_response, path[len(PREFIX) :])
            # moto's account header never picks an account here (the gate sets it from the
            # verified signer); dropped before the account state sees the request
            environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
            # Unsigned requests and unknown or malformed credentials are refused from the
            # headers and query alone, before account.wsgi reads a body or takes a lock;
            # the signature itself (which covers the body) is verified by the gate.
            refusal = gate.screen(environ, start_response, self._issued_account)
            if refusal is not None:
                return refusal
            result = app(environ, start_response)
            record = environ.get(gate.RECORD)
            if record is not None and self.progress is not None:
                self.progress.add(record)
            return result

        return application

    def _issued_account(self, access_key: str) -> str | None:
        """The account that issued `access_key`, from IAM as stored (read only)."""
        if self.state is None:
            return roster.issued(access_key)
        return self.state.run("iam", False, lambda: roster.issued(access_key), lambda: set())

    def _authorized(self, environ) -> bool:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        given = environ.get(TOKEN_HEADER) or (query.get("token") or [""])[0]
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def _instructor(self, environ, start_response, route: str):
        def answer(status: str, content_type: str, body: bytes):
            start_response(
                status,
                [
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                    ("Referrer-Policy", "no-referrer"),
                    ("X-Content-Type-Options", "nosniff"),
                ],
            )
            return [body]

        def answer_json(status: str, data: dict):
            return answer(status, "application/json", json.dumps(data).encode())

        if not self._authorized(environ):
            return answer_json("403 Forbidden", {"error": "the instructor token is missing or wrong"})
        method = environ.get("REQUEST_METHOD", "GET")
        if route in ("", "/") and method == "GET":
            return answer("200 OK", "text/html; charset=utf-8", view.page(PREFIX).encode())
        if route == "/status" and method == "GET":
            return answer_json("200 OK", self.status())
        if route == "/participants" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            fields = parse_qs(environ["wsgi.input"].read(length).decode("utf-8", "replace") if length else "")
            name = (fields.get("name") or [""])[0]
            try:
                participant, created = self.add(name)
            except roster.RosterError as exc:
                return answer_json("400 Bad Request", {"error": str(exc)})
            return answer_json(
                "201 Created" if created else "200 OK",
                {
                    "name": participant.name,
                    "account_id": participant.account_id,
                    "created": created,
                    "env_file": str(self.env_file(participant.name)),
                },
            )
        return answer_json("404 Not Found", {"error": f"no instructor route {method} {PREFIX}{route}"})
