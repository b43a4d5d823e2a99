"""Helpers for the KMS encryption workshop notebooks.

The notebooks make the KMS calls they teach themselves; these helpers do the plumbing
around them: the backend (`connect`), fixtures, display, the envelope format, checks.
"""

from .backend import BACKENDS, Workshop, connect
from .errors import BackendError, WorkshopError

__all__ = ["BACKENDS", "BackendError", "Workshop", "WorkshopError", "connect"]
__version__ = "0.1.0"
