"""The workshop's command line: `python -m workshop_helpers SUBCOMMAND`.

Every error a user can cause ends as one line on stderr and a non-zero exit, never a
traceback (set KMS_WORKSHOP_DEBUG=1 to see one anyway).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .cli import fail

# subcommand -> module with HELP, configure(parser) and run(args) -> int
COMMANDS = {
    "doctor": "workshop_helpers.doctor",
    "encrypt": "workshop_helpers.cmd_encrypt",
    "decrypt": "workshop_helpers.cmd_decrypt",
    "serve": "workshop_helpers.server",
    "cleanup": "workshop_helpers.cmd_cleanup",
    "reset": "workshop_helpers.cmd_reset",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr too (argparse prints the whole
    usage block first); `--help` still shows the usage."""

    def error(self, message: str):
        fail(f"{self.prog}: {message} (see --help)")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m workshop_helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError

    from .errors import WorkshopError

    try:
        return int(args._run(args) or 0)
    except WorkshopError as exc:
        return fail(str(exc))
    except ClientError as exc:
        err = exc.response.get("Error", {})
        op = getattr(exc, "operation_name", "call")
        return fail(f"{op} failed: {err.get('Code', 'Error')}: {err.get('Message', '') or 'no message'}")
    except BotoCoreError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI promises no tracebacks
        if os.environ.get("KMS_WORKSHOP_DEBUG"):
            raise
        return fail(f"unexpected {type(exc).__name__}: {exc} (set KMS_WORKSHOP_DEBUG=1 for details)", 1)


if __name__ == "__main__":
    sys.exit(main())
