"""The one place where the workshop hooks into botocore.

botocore copies `botocore.handlers.BUILTIN_HANDLERS` into every new session, and every
client inherits its session's handlers. Appending a single dispatcher there means every
client created after `install()` (by a notebook, a helper, or a third-party library such
as the AWS Encryption SDK) reaches the handlers registered here. Clients created before
are untouched: that is why the notebooks call `connect()` first.

Handlers are registered per botocore event name (for example ``"after-call.kms"``) with
`register()`; the audit trail (audit.py) builds on it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

_lock = threading.Lock()
_installed = False
_handlers: dict[str, list[Callable]] = defaultdict(list)

# botocore events the dispatcher listens to; handlers may subscribe to any of them,
# optionally narrowed by service ("after-call.kms").
EVENTS = ("provide-client-params", "before-call", "after-call", "after-call-error")


def _dispatch(event_name: str, **kwargs):
    # event_name looks like "after-call.kms.GenerateDataKey"
    parts = event_name.split(".")
    keys = [parts[0]]  # general handlers first, then the service's own, in register order
    if len(parts) > 1:
        keys.append(f"{parts[0]}.{parts[1]}")
    for key in keys:
        for handler in list(_handlers.get(key, ())):
            handler(event_name=event_name, **kwargs)
    return None


def install() -> None:
    """Add the dispatcher to botocore's built-in handlers, once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        # deferred: fidelity (~20 ms) loads at connect(), not with 'import workshop_helpers'
        from .fidelity import check_botocore

        check_botocore()  # a moved botocore internal: one line naming it, never a traceback later
        # deferred: botocore loads with boto3 at connect(), not on import
        from botocore.handlers import BUILTIN_HANDLERS

        for event in EVENTS:
            BUILTIN_HANDLERS.append((event, _dispatch))
        _installed = True


def installed() -> bool:
    return _installed


def register(event: str, handler: Callable) -> None:
    """Call `handler(event_name=..., **botocore_kwargs)` for `event` ("after-call.kms")."""
    if event.split(".")[0] not in EVENTS:
        raise ValueError(f"unknown hook event {event!r}; use one of {', '.join(EVENTS)}")
    with _lock:
        if handler not in _handlers[event]:
            _handlers[event].append(handler)


def unregister(event: str, handler: Callable) -> None:
    with _lock:
        if handler in _handlers.get(event, []):
            _handlers[event].remove(handler)
