"""`python -m workshop_helpers encrypt SRC DST --key-id KEY --context k=v`: envelope-encrypt a file."""

from .envelope_cli import ENCRYPT_HELP as HELP
from .envelope_cli import configure_encrypt as configure
from .envelope_cli import run_encrypt as run

__all__ = ["HELP", "configure", "run"]
