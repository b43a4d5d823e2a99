"""`python -m workshop_helpers decrypt SRC DST --context k=v`: decrypt a file made by `encrypt`."""

from .envelope_cli import DECRYPT_HELP as HELP
from .envelope_cli import configure_decrypt as configure
from .envelope_cli import run_decrypt as run

__all__ = ["HELP", "configure", "run"]
