"""The notebooks' interactive pieces (ipywidgets), each in a module of its own:

- context_playground.py: notebook 04's playground, decrypting under an edited encryption context
- trail.py: notebook 05's live view of the audit trail
"""

from .context_playground import ContextPlayground, PlaygroundResult, context_from_pairs, context_playground, try_decrypt
from .trail import TrailWidget, follow_trail

__all__ = [
    "ContextPlayground",
    "PlaygroundResult",
    "TrailWidget",
    "context_from_pairs",
    "context_playground",
    "follow_trail",
    "try_decrypt",
]
