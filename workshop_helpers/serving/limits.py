"""How large a request body the endpoint accepts, and the AWS error it answers past that.

Two limits, picked from what a request is for:

- 1 MiB for the JSON and query APIs (KMS, IAM, STS, EC2 ...): their requests are small
  (KMS's Encrypt takes at most 4 KiB of plaintext), so a larger one is a mistake or an
  attack on the endpoint's memory;
- 64 MiB for S3 (an object body): a cap of this simulation, which keeps every object in
  memory and in the account's snapshot. Real S3 takes up to 5 GiB in one PUT.

Past the limit, S3 answers as S3 does (400 `EntityTooLarge`, "Your proposed upload
exceeds the maximum allowed size", XML); the other APIs answer 413 with a short error in
their own protocol (JSON for JSON APIs, XML for query APIs).

The server (server.py) applies the limit as soon as a request's headers are in, from
Content-Length, before it reads a byte of the body, and while it reads a chunked body;
it then leaves REFUSED_KEY in the environ. `limit_request_bodies` is the WSGI layer that
answers (one home for the rule and the error), and it refuses by Content-Length itself
under any other server. It leaves the limit in BODY_LIMIT_KEY, so the layers inside it
(account.wsgi) read no more than that.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

MiB = 1024 * 1024
API_BODY_LIMIT = 1 * MiB
S3_BODY_LIMIT = 64 * MiB

REFUSED_KEY = "kms_workshop.body_refused"  # environ: (size, complete): the server stopped reading
BODY_LIMIT_KEY = "kms_workshop.body_limit"  # environ: the most an inner layer may read

_SCOPE = re.compile(r"Credential=[^/,&]*(?:/|%2F)\d{8}(?:/|%2F)[^/,&%]*(?:/|%2F)([a-z0-9-]+)(?:/|%2F)aws4_request")
_S3_MESSAGE = "Your proposed upload exceeds the maximum allowed size"


@dataclass(frozen=True)
class BodyLimit:
    max_bytes: int
    protocol: str  # "s3", "json", "query" (IAM, STS) or "ec2"

    def describe(self) -> str:
        return f"{self.max_bytes // MiB} MiB"


def limit_for(header: Callable[[str], str], query: str = "") -> BodyLimit:
    """The limit of a request, from its headers (`header("Content-Type")`) and query.

    The service is the one its signature names (SigV4's credential scope, in the
    Authorization header or a presigned URL's X-Amz-Credential); unsigned or SigV2
    requests are S3's unless they look like a JSON or query API call (moto's S3 takes
    what no other service claims)."""
    content_type = (header("Content-Type") or "").lower()
    json_api = bool(header("X-Amz-Target")) or content_type.startswith("application/x-amz-json")
    match = _SCOPE.search(header("Authorization") or "") or _SCOPE.search(query or "")
    service = match.group(1) if match else None
    if service == "s3" or (
        service is None and not json_api and not content_type.startswith("application/x-www-form-urlencoded")
    ):
        return BodyLimit(S3_BODY_LIMIT, "s3")
    if json_api:
        return BodyLimit(API_BODY_LIMIT, "json")
    return BodyLimit(API_BODY_LIMIT, "ec2" if service == "ec2" else "query")


def environ_header(environ: dict) -> Callable[[str], str]:
    def header(name: str) -> str:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        return environ.get(key) or ""

    return header


def refusal(limit: BodyLimit, size: int, *, complete: bool = True) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, body) of the error for a body of `size` bytes (at least that
    many when not `complete`: a chunked body stopped part way)."""
    request_id = str(uuid.uuid4())
    shown = f"{size}" if complete else f"more than {limit.max_bytes}"
    why = (
        f"the request body ({shown} bytes) is larger than this endpoint accepts for this API "
        f"({limit.max_bytes} bytes, {limit.describe()}); send a smaller request"
    )
    if limit.protocol == "s3":
        status = "400 Bad Request"
        content_type = "application/xml"
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>'
            f"<Message>{_S3_MESSAGE}</Message><ProposedSize>{size}</ProposedSize>"
            f"<MaxSizeAllowed>{limit.max_bytes}</MaxSizeAllowed><RequestId>{request_id}</RequestId>"
            "</Error>"
        )
        extra = [("x-amz-request-id", request_id)]
    elif limit.protocol == "json":
        status, content_type = "413 Request Entity Too Large", "application/x-amz-json-1.1"
        body = json.dumps({"__type": "RequestEntityTooLargeException", "message": why})
        extra = [("x-amzn-RequestId", request_id)]
    elif limit.protocol == "ec2":
        status, content_type = "413 Request Entity Too Large", "text/xml"
        body = (
            f"<Response><Errors><Error><Code>RequestEntityTooLarge</Code><Message>{escape(why)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        extra = []
    else:
        status, content_type = "413 Request Entity Too Large", "text/xml"
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>RequestEntityTooLarge</Code>"
            f"<Message>{escape(why)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        extra = [("x-amzn-RequestId", request_id)]
    data = body.encode()
    return status, [("Content-Type", content_type), ("Content-Length", str(len(data))), *extra], data


def limit_request_bodies(app: Callable) -> Callable:
    """`app`, with every request body over its limit refused before `app` sees it."""

    def application(environ, start_response):
        limit = limit_for(environ_header(environ), environ.get("QUERY_STRING", ""))
        refused = environ.get(REFUSED_KEY)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if refused is not None or length > limit.max_bytes:
            size, complete = refused if refused is not None else (length, True)
            status, headers, body = refusal(limit, size, complete=complete)
            start_response(status, headers)
            return [body]
        environ[BODY_LIMIT_KEY] = limit.max_bytes
        return app(environ, start_response)

    return application
