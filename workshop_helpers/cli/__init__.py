"""The workshop's command line, one parser: `python -m workshop_helpers COMMAND`.

Every error a user can cause ends as one line on stderr and a non-zero exit, never a
traceback (set KMS_WORKSHOP_DEBUG=1 to see one anyway).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import WorkshopError, aws_error_code, aws_error_message
from .options import fail

# command -> module of this package with HELP, configure(parser) and run(args) -> int
COMMANDS = {
    "doctor": "workshop_helpers.cli.doctor",
    "encrypt": "workshop_helpers.cli.encrypt",
    "decrypt": "workshop_helpers.cli.decrypt",
    "serve": "workshop_helpers.cli.serve",
    "cleanup": "workshop_helpers.cli.cleanup",
    "reset": "workshop_helpers.cli.reset",
    "class": "workshop_helpers.cli.classroom",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr too (argparse prints the whole
    usage block first); `--help` still shows the usage."""

    def error(self, message: str):
        fail(f"{self.prog}: {message} (see --help)")
        sys.exit(2)


def build_parser(commands: dict[str, str] = COMMANDS) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m workshop_helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in commands.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Only the command named is imported: serve's module imports the server and encrypt's
    # the envelope code, a tenth of a second that `doctor` need not pay.
    named = {argv[0]: COMMANDS[argv[0]]} if argv and argv[0] in COMMANDS else COMMANDS
    args = build_parser(named).parse_args(argv)
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return int(args._run(args) or 0)
    except WorkshopError as exc:
        return fail(str(exc))
    except ClientError as exc:
        op = getattr(exc, "operation_name", "call")
        return fail(f"{op} failed: {aws_error_code(exc) or 'Error'}: {aws_error_message(exc) or 'no message'}")
    except BotoCoreError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("KMS_WORKSHOP_DEBUG"):
            raise
        return fail(f"unexpected {type(exc).__name__}: {exc} (set KMS_WORKSHOP_DEBUG=1 for details)", 1)
