"""Serving the endpoint in production: the HTTP server, its limits and its log.

- server.py: waitress with idle and request timeouts, a connection limit, the body
  limits applied before a body is read, and a graceful stop (`HttpServer`)
- limits.py: how large a body each API takes, and AWS's error past it (a WSGI layer)
- access_log.py: `serve --verbose`'s one line per request, secrets masked
- workers.py: `serve --workers N`: N processes sharing one socket and the account on disk

docs/server.md says why it is built this way.
"""

from __future__ import annotations

from .server import DEFAULT_CONNECTION_LIMIT, DEFAULT_IDLE_TIMEOUT, DEFAULT_THREADS, HttpServer, ServerOptions

__all__ = ["DEFAULT_CONNECTION_LIMIT", "DEFAULT_IDLE_TIMEOUT", "DEFAULT_THREADS", "HttpServer", "ServerOptions"]
