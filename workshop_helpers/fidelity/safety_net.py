"""No moto crash reaches the learner, and no bad input is a server error.

- KMS: a body that is not a JSON object (invalid, truncated, nested too deeply to read)
  is KMS's SerializationException (HTTP 400), as AWS answers it, before moto reads it;
  anything unforeseen after that becomes KMSInternalException with a one-line message.
  Real KMS sends KMSInternalException with HTTP 500, which botocore retries silently; it
  is sent with 400 here so the learner sees it at once, the same way in-process and over
  the endpoint.
- Every other service on the endpoint: a request moto cannot handle (a parameter it
  cannot read, an XML body that is not well formed, one nested too deeply) is answered
  with the 4xx error its service gives for bad input, in its own format (S3: MalformedXML
  for an XML body, else InvalidRequest; EC2: InvalidParameterValue; IAM, STS and other
  query APIs: ValidationError; JSON APIs: SerializationException or ValidationException),
  never moto's bare 500, and the endpoint keeps serving.

Known crashes are fixed where they happen (known_crashes.py), each with a test; this is
the net under them. Each catch is logged as a warning, so a moto bug does not go unseen.
"""

from __future__ import annotations

import json
import logging
import uuid
import xml.parsers.expat
from xml.sax.saxutils import escape

from moto.core.utils import convert_to_flask_response

from .exceptions import KmsError, KMSInternalException

log = logging.getLogger("workshop_helpers.fidelity")
_DETAIL = 300  # characters of an exception's text in a message


class SerializationException(KmsError):
    """KMS's answer to a body it cannot read as JSON."""


def _detail(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:_DETAIL]


def json_object_problem(body) -> str | None:
    """Why `body` is not a JSON object (None if it is one): the KMS API takes nothing else."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return "the request body is not UTF-8"
    try:
        value = json.loads(body or "{}")
    except RecursionError:
        return "the request body's JSON is nested too deeply"
    except ValueError as exc:
        return f"the request body is not valid JSON ({exc})"
    if not isinstance(value, dict):
        return f"the request body is a JSON {type(value).__name__}, not an object of the operation's parameters"
    return None


def internal_error_response(self, exc: BaseException):
    """The (status, headers, body) of a KMSInternalException for `exc`."""
    action = _action_name(self)
    detail = _detail(exc)
    log.warning("simulated KMS failed on %s: %s", action, detail)
    error = KMSInternalException(
        f"The workshop's simulated KMS failed on {action} ({detail}); this is a bug in the "
        "simulation, not in your code: real KMS would not fail here."
    )
    return _error_response(self, error)


def _error_response(self, error: KmsError):
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


def _request_body(request) -> bytes:
    for name in ("data", "body"):
        value = getattr(request, name, None)
        if isinstance(value, str):
            return value.encode("utf-8", "replace")
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
    return b""


# --- every other service on the endpoint ------------------------------------------------------


def _service_of_callback(callback) -> str:
    owner = getattr(callback, "__self__", None)
    module = (owner if isinstance(owner, type) else type(owner)).__module__ if owner is not None else ""
    parts = (module or getattr(callback, "__module__", "") or "").split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "moto" else ""


def _well_formed_xml(body: bytes) -> bool:
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(body, True)
    except (xml.parsers.expat.ExpatError, RecursionError, ValueError):
        return False
    return True


def bad_input_answer(service: str, target: str, body: bytes, exc: BaseException) -> tuple[int, str, bytes]:
    """(status, content type, body) of the 4xx AWS gives `service` for input it cannot
    handle; `exc` is what moto raised on it."""
    detail = _detail(exc)
    request_id = str(uuid.uuid4())
    if target:  # a JSON API (X-Amz-Target)
        problem = json_object_problem(body)
        code, message = (
            ("SerializationException", f"{problem}; send a JSON object of the operation's parameters")
            if problem
            else (
                "ValidationException",
                f"a parameter could not be read ({detail}); check its type and format in the API reference",
            )
        )
        return 400, "application/x-amz-json-1.1", json.dumps({"__type": code, "message": message}).encode()
    if service == "s3":
        if body.strip():
            code = "MalformedXML"
            message = "The XML you provided was not well-formed or did not validate against our published schema" + (
                "" if _well_formed_xml(body) else " (it is not well-formed XML)"
            )
        else:
            code, message = "InvalidRequest", f"The request could not be handled ({detail}); check its parameters"
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{escape(message)}'
            f"</Message><RequestId>{request_id[:16].upper()}</RequestId></Error>"
        )
        return 400, "application/xml", text.encode()
    message = f"a parameter value could not be read ({detail}); check its type and format in the API reference"
    if service == "ec2":
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>InvalidParameterValue</Code>'
            f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return 400, "text/xml", text.encode()
    text = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>{escape(message)}"
        f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    )
    return 400, "text/xml", text.encode()


def _guard_flask_responses() -> None:
    """Every request moto's server answers goes through convert_to_flask_response: an
    exception there (Flask would answer 500) becomes the service's bad-input error."""
    original = convert_to_flask_response.__call__

    def __call__(self, args=None, **kwargs):
        try:
            return original(self, args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the net: no request is a server error
            # deferred: flask loads only with the endpoint's server
            from flask import Response
            from flask import request as flask_request  # deferred: as above

            service = _service_of_callback(self.callback)
            body = flask_request.get_data(cache=True) or b""
            target = flask_request.headers.get("X-Amz-Target", "")
            log.warning("moto's %s failed on bad input: %s", service or "server", _detail(exc))
            status, content_type, answer = bad_input_answer(service, target, body, exc)
            return Response(
                response=answer,
                status=status,
                headers={"Content-Type": content_type, "x-amzn-RequestId": str(uuid.uuid4())},
            )

    convert_to_flask_response.__call__ = __call__  # type: ignore[method-assign]


def install() -> None:
    # deferred: moto's KMS responses load in apply(), not on import
    from moto.kms.responses import KmsResponse

    original = KmsResponse._dispatch

    def _dispatch(self, request, *args, **kwargs):
        problem = json_object_problem(_request_body(request))
        if problem is not None:
            return _error_response(
                self, SerializationException(f"{problem}; send a JSON object of the operation's parameters")
            )
        try:
            return original(self, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the net: every crash becomes a KMS error
            return internal_error_response(self, exc)

    KmsResponse._dispatch = _dispatch  # type: ignore[method-assign]
    _guard_flask_responses()
