"""`python -m workshop_helpers decrypt SRC DST`: decrypt a file made by `encrypt`, or by
the aws-encryption-cli or any AWS Encryption SDK (format version 2, key committing).

Strict, as the SDK's strict key provider: the KMS key must be named (--key-id), and a file
under any other key is refused before KMS is asked. --discovery-account ACCOUNT instead
accepts any KMS key of that account (the SDK's discovery filter), on request only.
"""

from __future__ import annotations

from .. import envelope
from ..errors import WorkshopError
from .envelope_files import add_file_arguments, describe_context, file_errors, prepare, progress_for

HELP = "decrypt a file made by `encrypt` or the aws-encryption-cli, checking its key and encryption context"


def configure(parser) -> None:
    add_file_arguments(parser, context_help="the expected encryption context pair, repeatable; must match exactly")
    parser.add_argument(
        "--key-id",
        default=None,
        help="the KMS key the file must be encrypted under: ARN, alias or key id (required, "
        "unless --discovery-account)",
    )
    parser.add_argument(
        "--discovery-account",
        action="append",
        default=[],
        metavar="ACCOUNT",
        help="instead of --key-id: accept any KMS key of this AWS account (repeatable)",
    )
    parser.add_argument(
        "--require-signature",
        action="store_true",
        help="refuse files that are not signed (made without `encrypt --signed`)",
    )


def _key_choice(args):
    if args.key_id and args.discovery_account:
        raise WorkshopError("give --key-id or --discovery-account, not both")
    if not args.key_id and not args.discovery_account:
        raise WorkshopError(
            "decrypt needs --key-id KEY (the KMS key's ARN or alias), or --discovery-account ACCOUNT "
            "to accept any key of that account"
        )
    return envelope.Discovery(args.discovery_account) if args.discovery_account else None


def run(args) -> int:
    context, workshop = prepare(args, "decrypt", check=_key_choice)
    discovery = _key_choice(args)
    with file_errors(), progress_for(args.src, "decrypting") as bar:
        header = envelope.decrypt_file(
            args.src,
            args.dst,
            encryption_context=context,
            key_id=args.key_id,
            discovery=discovery,
            require_signature=args.require_signature,
            kms_client=workshop.client("kms"),
            progress=bar,
        )
    signed = "signature verified" if header.signed else "not signed"
    print(
        f"decrypted {args.src} -> {args.dst} under {header.key_arn}, context {describe_context(context)} "
        f"verified, {signed}"
    )
    return 0
