"""`python -m workshop_helpers encrypt SRC DST`: envelope-encrypt a file under a KMS key.

The file written is an AWS Encryption SDK message (format version 2, framed, key
committing): the aws-encryption-cli and every official SDK decrypt it.
"""

from __future__ import annotations

from .. import envelope, names
from .envelope_files import add_file_arguments, describe_context, file_errors, prepare, progress_for

HELP = "envelope-encrypt a file under a KMS key (AWS Encryption SDK message format, one data key per file)"


def configure(parser) -> None:
    add_file_arguments(parser, context_help="encryption context pair, repeatable (decrypt needs the same)")
    parser.add_argument(
        "--key-id", default=names.key_alias(), help=f"KMS key id, ARN or alias (default {names.key_alias()})"
    )
    parser.add_argument(
        "--signed",
        action="store_true",
        help="sign the file too (suite 0x0578, ECDSA P-384): then even someone allowed to decrypt "
        "cannot forge a file that verifies",
    )


def run(args) -> int:
    context, workshop = prepare(args, "encrypt")
    with file_errors(), progress_for(args.src, "encrypting") as bar:
        envelope.encrypt_file(
            args.src,
            args.dst,
            key_id=args.key_id,
            encryption_context=context,
            kms_client=workshop.client("kms"),
            progress=bar,
            signed=args.signed,
        )
    with file_errors():
        header = envelope.read_header(args.dst)
    print(
        f"encrypted {args.src} -> {args.dst} under {header.key_arn}, context {describe_context(context)}, "
        f"suite {header.suite}"
    )
    return 0
