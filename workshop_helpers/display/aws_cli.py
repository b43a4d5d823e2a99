"""The AWS CLI command equivalent to a boto3 call, as text.

    aws_cli("generate_data_key", {"KeyId": "alias/ImportedCMK", "KeySpec": "AES_256",
            "EncryptionContext": {"project": "workshop"}})

gives ``aws kms generate-data-key --key-id alias/ImportedCMK --key-spec AES_256
--encryption-context project=workshop``, so a learner can map the Python call onto the
original workshop's command. Binary parameters become ``fileb://FILE`` (name them with
`files`); the result is data (`.text`) with an HTML rendering.
"""

from __future__ import annotations

import json
import re
import shlex

from ._html import Rich, esc


def kebab(name: str) -> str:
    """KeyId -> key-id, generate_data_key -> generate-data-key."""
    if "_" in name or name.islower():
        return name.replace("_", "-").lower()
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name).lower()


def _value(name: str, value, files: dict) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "fileb://" + files.get(name, f"{kebab(name)}.bin")
    if isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()) and all(
            re.fullmatch(r"[\w:.@/+-]+", f"{k}{v}") for k, v in value.items()
        ):
            return ",".join(f"{k}={v}" for k, v in value.items())
        return shlex.quote(json.dumps(value, separators=(",", ":")))
    if isinstance(value, (list, tuple)):
        return " ".join(shlex.quote(str(v)) for v in value)
    if isinstance(value, bool):
        return ""
    return shlex.quote(str(value))


class CliCommand(Rich):
    """One AWS CLI command line."""

    def __init__(self, argv: list[str]):
        self.argv = argv

    def text(self) -> str:
        return " ".join(a for a in self.argv if a)

    def wrapped(self, width: int = 88) -> str:
        """The command broken over lines with backslashes, one option per line when long."""
        flat = self.text()
        if len(flat) <= width:
            return flat
        head: list[str] = []
        options: list[str] = []
        for arg in self.argv:
            if arg.startswith("--") or options:
                if arg.startswith("--"):
                    options.append(arg)
                elif arg:
                    options[-1] += " " + arg
            else:
                head.append(arg)
        return " \\\n    ".join([" ".join(head)] + options)

    def html(self) -> str:
        return (
            "<div class='kms-cli' style='margin:.3em 0'>"
            "<span style='font-size:85%;color:var(--jp-content-font-color1, #1f2937)'>"
            "The same call with the AWS CLI:</span>"
            "<pre tabindex='0' style='margin:.2em 0;padding:.4em;white-space:pre;overflow-x:auto;"
            "background:var(--jp-layout-color2, #f3f4f6);color:var(--jp-content-font-color1, #111827)'>"
            f"<code>$ {esc(self.wrapped())}</code></pre></div>"
        )


def aws_cli(
    operation: str,
    params: dict | None = None,
    *,
    service: str = "kms",
    files: dict | None = None,
    query: str | None = None,
    output: str | None = None,
) -> CliCommand:
    """The `aws SERVICE OPERATION --param value ...` command for a boto3 call.

    `files` maps a binary parameter name (CiphertextBlob, Plaintext) to the file the CLI
    would read it from; `query` and `output` add --query and --output.
    """
    files = files or {}
    argv = ["aws", service, kebab(operation)]
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            argv.append(f"--{kebab(name)}" if value else f"--no-{kebab(name)}")
            continue
        argv += [f"--{kebab(name)}", _value(name, value, files)]
    if output:
        argv += ["--output", output]
    if query:
        argv += ["--query", query]
    return CliCommand(argv)
