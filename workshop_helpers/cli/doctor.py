"""`python -m workshop_helpers doctor`: is everything in place to run the workshop?"""

from __future__ import annotations

from importlib import metadata

from ..errors import WorkshopError
from .options import add_backend_options, connect_from_args

HELP = "check the backend, identity, package versions and that KMS answers"

PACKAGES = ("boto3", "botocore", "moto", "cryptography", "aws-encryption-sdk", "jupyterlab", "ipywidgets")


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def configure(parser) -> None:
    add_backend_options(parser)


def run(args) -> int:
    ws = connect_from_args(args)
    described = ws.describe()
    for key, value in described.items():
        print(f"{key:<10} {value}")
    if "endpoint" not in described:  # every backend says where its requests go
        print(f"{'endpoint':<10} {ws.endpoint_in_use()}")
    if ws.backend == "moto":
        where = f"kept in {ws.state_dir}" if ws.state_dir else "in this process only (KMS_WORKSHOP_STATE_DIR=memory)"
        print(f"{'state':<10} {where}")
    for name, version in versions().items():
        print(f"{name:<10} {version}" if len(name) <= 10 else f"{name} {version}")
    missing = [n for n, v in versions().items() if v == "not installed"]
    ws.client("kms").list_keys(Limit=1)  # errors become one line in __main__
    print("kms        answers")
    if missing:
        raise WorkshopError(f"missing packages: {', '.join(missing)}; run `make install`.")
    print("ok")
    return 0
