"""Turning the workshop's data into pictures: one module per job.

- expect: `expect_error(*codes)` renders an expected failure, fails if there is none
- masking: `mask(secret)` and the moto-only `reveal(secret, ws)`
- svg: `envelope_diagram(highlight)` and `direct_diagram()`
- bytes_view: `compare_bytes(plaintext, ciphertext)`, hex dumps and byte histograms
- aws_cli: `aws_cli(operation, params)`, the AWS CLI command equivalent to a boto3 call
- tables: `response_table(response)` (secrets masked, blobs shortened), `table(rows)`
- explanation: `explanation_html(...)`, a command, what it did, why, and the fix
- trail, sse_cse: the audit-trail table and the server- and client-side diagrams
  (imported from their modules directly)

Helpers elsewhere return plain data; these functions turn it into HTML or SVG objects
that render in Jupyter and print as plain text anywhere else.
"""

from .aws_cli import aws_cli
from .bytes_view import byte_stats, compare_bytes, hexdump
from .expect import CaughtError, expect_error
from .masking import mask, reveal
from .svg import direct_diagram, envelope_diagram, key_lifecycle_diagram
from .tables import response_table, shorten_blob, table

__all__ = [
    "CaughtError",
    "aws_cli",
    "byte_stats",
    "compare_bytes",
    "direct_diagram",
    "envelope_diagram",
    "expect_error",
    "hexdump",
    "key_lifecycle_diagram",
    "mask",
    "response_table",
    "reveal",
    "shorten_blob",
    "table",
]
