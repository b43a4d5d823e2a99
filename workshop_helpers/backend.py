"""Choosing and connecting to a backend: `connect()` and the `Workshop` it returns.

Three backends, chosen by the argument, else `KMS_WORKSHOP_BACKEND`, else `moto`:

- ``moto``: moto's mock inside this process, started once, made faithful by
  `workshop_helpers.fidelity`. Fake credentials; nothing leaves the process.
- ``endpoint``: a local AWS-compatible endpoint at `KMS_WORKSHOP_ENDPOINT_URL`
  (`python -m workshop_helpers serve` runs one), with the workshop's test credentials.
- ``aws``: a real account through the standard credential chain, only when asked for.

One Workshop per process: `connect()` again returns the same object, and another backend
later in the same process is refused (restart the kernel). Clients created *before*
`connect()` are neither mocked nor traced, which is why every notebook connects first.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from . import audit, hooks, ipython_errors
from .errors import BackendError, aws_error_code, aws_error_message

BACKENDS = ("moto", "endpoint", "aws")
DEFAULT_REGION = "eu-west-1"
# Hosts of AWS's own endpoints (commercial, China, dual-stack, the isolated regions): a KMS
# client of the aws backend pointed anywhere else is said to be overridden.
AWS_HOSTS = r"\.(amazonaws\.com|amazonaws\.com\.cn|api\.aws|c2s\.ic\.gov|sc2s\.sgov\.gov)$"
MOTO_ACCOUNT_ID = "123456789012"

# The workshop's test credentials for moto and the local endpoint. They are not shaped
# like AWS access keys, so AWS would reject them outright and the secret scan ignores them.
TEST_ACCESS_KEY_ID = "testing"
TEST_SECRET_ACCESS_KEY = "testing"

# Short timeouts and few retries: an endpoint or network that went away gives a clear
# error within seconds, not after botocore's default minutes of retrying.
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 20
MAX_ATTEMPTS = 2  # in all: one try and one retry

# Environment variables that could point a "moto" client somewhere real, or make it
# sign with real credentials: moto ignores them.
_MOTO_IGNORED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

_lock = threading.RLock()
_active: Workshop | None = None
_moto_mock: Any = None


def client_config():
    """The botocore Config every workshop client gets."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )


@dataclass
class Workshop:
    """A connection to one backend. Make clients with `.client("kms")`."""

    backend: str
    region: str
    account_id: str
    identity_arn: str
    endpoint_url: str | None = None
    session: Any = field(default=None, repr=False)
    #: moto: the folder the simulated account lives in (None: in this process only)
    state_dir: Any = field(default=None, repr=False)
    #: moto: the account on disk this process's mock runs in (None: in this process only);
    #: the trail and the EBS and S3 simulations keep their records with it
    account: Any = field(default=None, repr=False)

    def client(self, service_name: str, *, credentials: dict | None = None):
        """A boto3 client for this backend.

        `credentials` takes the `Credentials` dict that STS AssumeRole returns, to act as
        that role (the participant's role in notebook 02, for instance).
        """
        kwargs: dict[str, Any] = {"region_name": self.region, "config": client_config()}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if credentials is not None:
            # deferred: boto3 takes ~0.1 s to import; it loads at connect(), not on import
            import boto3

            session = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials.get("SessionToken"),
                region_name=self.region,
            )
            return session.client(service_name, **kwargs)
        return self.session.client(service_name, **kwargs)

    def trail(
        self,
        event_name: str | list[str] | None = None,
        *,
        since: Any = None,
        simulated: bool | None = None,
        errors_only: bool = False,
        last: int | None = None,
        here: bool = False,
    ) -> list[dict]:
        """CloudTrail-shaped records of the account's KMS calls, oldest first.

        On moto with the account on disk: every call made in the account, by any notebook
        or command (each record's ``origin`` says which; `here=True` keeps this kernel's).
        Elsewhere: the calls of this process since connect(). `since` takes a
        `trail_mark()`, a datetime or an ISO time; see `audit.records`.
        """
        return audit.records(
            event_name=event_name, since=since, simulated=simulated, errors_only=errors_only, last=last, here=here
        )

    def trail_mark(self) -> int:
        """A point in the trail: `trail(since=mark)` then shows only later calls."""
        return audit.mark()

    @property
    def is_simulated(self) -> bool:
        """True on moto and on the local endpoint: no real AWS account is involved."""
        return self.backend != "aws"

    def describe(self) -> dict[str, str]:
        """What the learner should see before anything is created."""
        info = {
            "backend": self.backend,
            "region": self.region,
            "account": self.account_id,
            "identity": self.identity_arn,
        }
        if self.endpoint_url:
            info["endpoint"] = self.endpoint_url
        elif self.backend == "aws" and (override := self.endpoint_override()):
            info["endpoint"] = override
        return info

    def endpoint_override(self) -> str | None:
        """On the aws backend, where KMS requests go when that is not AWS's own endpoint
        (AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL or a profile's endpoint_url), with the
        setting that sent them there; None when they go to AWS."""
        if self.backend != "aws":
            return None
        variable = next(
            (n for n in ("AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL") if os.environ.get(n, "").strip()), None
        )
        if self.session is None:  # no client to ask: the environment is all there is
            url = os.environ[variable].strip() if variable else ""
        else:
            url = self.client("kms").meta.endpoint_url
        if not url or re.search(AWS_HOSTS, urlparse(url).hostname or ""):
            return None
        source = variable or "the AWS config file"
        return f"{url} (from {source})"

    def endpoint_in_use(self) -> str:
        """Where this Workshop's KMS requests go, in words (doctor prints it)."""
        if self.backend == "moto":
            return "none: moto answers inside this process, nothing goes over the network"
        if self.endpoint_url:
            return self.endpoint_url
        return self.endpoint_override() or f"{self.client('kms').meta.endpoint_url} (AWS)"

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.describe().items()]
        return "Workshop(" + ", ".join(parts) + ")"

    def _repr_html_(self) -> str:
        # deferred: display's package imports every view, which connect() does without
        from .display.tables import table

        note = {
            "moto": "Simulated on this machine: no AWS account, no network, nothing costs money.",
            "endpoint": "Simulated by a local endpoint: no AWS account, nothing costs money.",
            "aws": "A REAL AWS account: what you create may cost money; notebook 08 cleans up.",
        }[self.backend]
        if self.endpoint_override():
            note = (
                f"The aws backend with its endpoint overridden: KMS requests go to "
                f"{self.endpoint_override()}, not to AWS. Costs apply only if that is AWS."
            )
        return table(self.describe(), caption="Workshop backend", footnote=note).html()


def choose_backend(backend: str | None = None) -> str:
    value = backend if backend is not None else os.environ.get("KMS_WORKSHOP_BACKEND") or "moto"
    value = value.strip().lower()
    if value not in BACKENDS:
        raise BackendError(
            f"unknown backend {value!r}: use one of {', '.join(BACKENDS)} (argument or KMS_WORKSHOP_BACKEND)."
        )
    return value


def choose_region(region: str | None = None) -> str | None:
    """The argument, else AWS_REGION / AWS_DEFAULT_REGION; None leaves it to the caller."""
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def active() -> Workshop | None:
    """The Workshop of this process, if `connect()` was called."""
    return _active


def connect(backend: str | None = None, *, region: str | None = None) -> Workshop:
    """Connect to the workshop's backend (once per process) and return the Workshop."""
    global _active
    with _lock:
        if _active is not None:
            if backend is None and region is None:
                return _active
            wanted = choose_backend(backend) if backend is not None else _active.backend
            if wanted != _active.backend:
                raise BackendError(
                    f"this kernel is already connected to the {_active.backend!r} backend; "
                    f"restart the kernel to use {wanted!r}."
                )
            if region is not None and region != _active.region:
                raise BackendError(
                    f"this kernel is already connected in region {_active.region}; restart the kernel to use {region}."
                )
            return _active
        name = choose_backend(backend)
        if name == "moto":
            _active = _connect_moto(choose_region(region) or DEFAULT_REGION)
        elif name == "endpoint":
            _active = _connect_endpoint(choose_region(region) or DEFAULT_REGION)
        else:
            _active = _connect_aws(region)
        audit.start(_active)  # record every KMS call from here on (idempotent)
        ipython_errors.install()  # in IPython only: AWS errors as one readable line
        return _active


def require() -> Workshop:
    """The active Workshop, connecting with the defaults if nobody has yet."""
    return _active or connect()


# --- moto -------------------------------------------------------------------------------


def _use_test_credentials(
    region: str, access_key_id: str = TEST_ACCESS_KEY_ID, secret_access_key: str = TEST_SECRET_ACCESS_KEY
) -> None:
    """Point the process's default credential chain at the workshop's test credentials
    (or at the ones a class endpoint issued to this participant).

    Third-party libraries (the AWS Encryption SDK) build their own clients from the
    environment, so the environment itself must be safe and complete.
    """
    for name in _MOTO_IGNORED_ENV:
        os.environ.pop(name, None)
    os.environ["AWS_ACCESS_KEY_ID"] = access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = secret_access_key
    os.environ["AWS_REGION"] = region
    os.environ["AWS_DEFAULT_REGION"] = region
    # A profile file could carry a credential_process, an SSO session or an endpoint_url.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    # Fewer retries for clients we do not build ourselves.
    os.environ["AWS_MAX_ATTEMPTS"] = str(MAX_ATTEMPTS)
    os.environ["AWS_RETRY_MODE"] = "standard"
    # deferred: boto3 takes ~0.1 s to import; it loads at connect(), not on import
    import boto3

    boto3.DEFAULT_SESSION = None  # rebuilt lazily from the environment above


def _connect_moto(region: str) -> Workshop:
    global _moto_mock
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL"):
            del os.environ[name]
    _use_test_credentials(region)
    hooks.install()
    # deferred: only the moto backend needs the simulation layer (fidelity and account: ~50 ms)
    from . import fidelity

    fidelity.apply()
    # deferred: only the moto backend needs the simulation layer (fidelity and account: ~50 ms)
    from . import account

    state = account.open_account()  # the user's account on disk (None: this process only)
    account.install_in_process()
    if _moto_mock is None:
        # deferred: moto takes ~0.3 s to import; only the moto backend needs it
        from moto import mock_aws

        _moto_mock = mock_aws()
        _moto_mock.start()  # start() resets moto's state: it happens once per process
    # deferred: boto3 takes ~0.1 s to import; it loads at connect(), not on import
    import boto3

    session = boto3.Session(
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        region_name=region,
    )
    ws = Workshop("moto", region, MOTO_ACCOUNT_ID, "", None, session)
    ws.state_dir = state.directory if state is not None else None
    ws.account = state
    ws.identity_arn = ws.client("sts").get_caller_identity()["Arn"]
    return ws


# --- endpoint ---------------------------------------------------------------------------


def _check_reachable(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise BackendError(
            f"KMS_WORKSHOP_ENDPOINT_URL={url!r} is not an http(s) URL; "
            "set it to what `python -m workshop_helpers serve` printed."
        )
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        raise BackendError(
            f"the endpoint at KMS_WORKSHOP_ENDPOINT_URL={url} does not answer ({exc.strerror or exc}); "
            "start it with `python -m workshop_helpers serve` or fix the variable."
        ) from None


def _connect_endpoint(region: str) -> Workshop:
    url = os.environ.get("KMS_WORKSHOP_ENDPOINT_URL", "").strip()
    if not url:
        raise BackendError(
            "the endpoint backend needs KMS_WORKSHOP_ENDPOINT_URL (for example "
            "http://127.0.0.1:5000); start one with `python -m workshop_helpers serve`."
        )
    url = url.rstrip("/")
    _check_reachable(url)
    # In a class (`serve --participants`), the participant's env file carries the access
    # key the endpoint issued for their own account; anywhere else, the test credentials.
    issued = (os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    in_class = bool(os.environ.get("KMS_WORKSHOP_PARTICIPANT") and all(issued))
    _use_test_credentials(region, *(issued if in_class else ()))
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]
    # Clients made by third-party libraries follow the endpoint too.
    os.environ["AWS_ENDPOINT_URL"] = url
    hooks.install()
    # deferred: boto3 takes ~0.1 s to import; it loads at connect(), not on import
    import boto3

    session = boto3.Session(
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    ws = Workshop("endpoint", region, "", "", url, session)
    identity = _caller_identity(ws, "KMS_WORKSHOP_ENDPOINT_URL=" + url)
    ws.account_id, ws.identity_arn = identity["Account"], identity["Arn"]
    return ws


# --- aws --------------------------------------------------------------------------------


def on_binder() -> bool:
    return any(name.startswith("BINDER_") for name in os.environ)


def _connect_aws(region: str | None) -> Workshop:
    if on_binder():
        raise BackendError(
            "the aws backend is refused on Binder: it is a public service, never put AWS "
            "credentials there; use the moto backend (the default)."
        )
    hooks.install()
    session = aws_session(region)
    ws = Workshop("aws", session.region_name, "", "", None, session)
    identity = _caller_identity(ws, "your AWS credentials")
    ws.account_id, ws.identity_arn = identity["Account"], identity["Arn"]
    return ws


def aws_session(region: str | None = None):
    """A boto3 Session on the standard credential chain.

    Region: the argument, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's own
    region, else eu-west-1.
    """
    # deferred: boto3 takes ~0.1 s to import; it loads at connect(), not on import
    import boto3
    from botocore.exceptions import BotoCoreError  # deferred: botocore loads with boto3 at connect(), not on import

    try:
        session = boto3.Session(region_name=choose_region(region))
        if not session.region_name:
            profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
            session = boto3.Session(region_name=DEFAULT_REGION, profile_name=profile)
    except BotoCoreError as exc:  # ProfileNotFound and friends
        raise BackendError(f"cannot set up AWS credentials: {exc}") from None
    return session


def _caller_identity(ws: Workshop, what: str) -> dict:
    """STS GetCallerIdentity, with every failure turned into one sentence."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    try:
        return ws.client("sts").get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError):
        raise BackendError(
            "no AWS credentials found: configure them (aws configure, aws sso login, or "
            "AWS_PROFILE) or use KMS_WORKSHOP_BACKEND=moto."
        ) from None
    except ClientError as exc:
        code = aws_error_code(exc)
        if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            raise BackendError(
                f"{what}: the credentials have expired ({code}); refresh them "
                "(aws sso login, or new temporary credentials) and restart the kernel."
            ) from None
        raise BackendError(
            f"{what}: STS refused the credentials ({code}: "
            f"{aws_error_message(exc)}); check them and restart the kernel."
        ) from None
    except EndpointConnectionError:
        raise BackendError(f"{what}: cannot reach STS; check the network or the URL.") from None
    except BotoCoreError as exc:
        raise BackendError(f"{what}: {exc}") from None
