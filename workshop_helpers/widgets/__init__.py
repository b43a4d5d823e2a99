"""The notebooks' interactive pieces (ipywidgets), each in a module of its own:

- context_playground.py: notebook 04's playground, decrypting under an edited encryption context
- trail.py: notebook 05's live view of the audit trail
"""

from .context_playground import context_playground
from .trail import TrailWidget

__all__ = [
    "TrailWidget",
    "context_playground",
]
