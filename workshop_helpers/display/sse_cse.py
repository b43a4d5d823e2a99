"""Pictures for the server-side and client-side notebooks (05 and 06).

- `ebs_diagram(step)`: what EBS and EC2 ask of KMS for an encrypted volume, one step
  highlighted: "create", "attach", "io" or "detach".
- `sdk_message_diagram(header)`: the parts of an AWS Encryption SDK message: header
  (algorithm suite, encryption context, encrypted data keys, commitment, header tag),
  framed body, and the footer signature.

Like every workshop SVG they carry a <title> and a <desc>, announced by screen readers.
"""

from __future__ import annotations

import itertools

from ._html import esc
from .svg import FILL_HI, FILL_LO, HI, LO, Diagram, _box, _svg

EBS_STEPS = ("create", "attach", "io", "detach")

EBS_TEXT = {
    None: "Amazon EBS encryption: a data key per volume, generated under your KMS key and kept "
    "encrypted in the volume's metadata; EC2 has it decrypted into host memory while the volume "
    "is attached, and every block is encrypted with it.",
    "create": "Step 1, CreateVolume: EBS asks KMS for a data key without plaintext "
    "(GenerateDataKeyWithoutPlaintext, context aws:ebs:id = the volume id) and keeps the "
    "encrypted data key in the volume's metadata.",
    "attach": "Step 2, AttachVolume: EC2 creates a grant for the instance (CreateGrant) and asks "
    "KMS to decrypt the encrypted data key (Decrypt, same context); the plaintext data key goes "
    "to the host's memory only.",
    "io": "Step 3, reads and writes: the host encrypts and decrypts every block with the data key "
    "(AES-256-XTS); the disk only ever holds ciphertext.",
    "detach": "Step 4, DetachVolume: the plaintext data key leaves the host's memory; the "
    "encrypted data key and the ciphertext stay on the volume.",
}

_ids = itertools.count(1)


def ebs_diagram(step: str | None = None) -> Diagram:
    """EBS and EC2 with KMS; `step` (one of EBS_STEPS, or None) drawn in orange."""
    if step not in (None, *EBS_STEPS):
        raise ValueError(f"step must be one of {', '.join(EBS_STEPS)} or None, not {step!r}")
    uid = f"kw-ebs-{step or 'all'}-{next(_ids)}"
    create, attach, io, detach = (step == s for s in EBS_STEPS)
    def path(d, hot, label="", lx=0, ly=0, dashed=False, anchor="middle"):
        stroke = HI if hot else LO
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        out = (
            f'<path d="{d}" fill="none" stroke="{stroke}" stroke-width="{3 if hot else 1.5}"{dash} '
            f'marker-end="url(#{uid}-{"hi" if hot else "lo"})"/>'
        )
        if label:
            out += (
                f'<text x="{lx}" y="{ly}" text-anchor="{anchor}" font-size="11" '
                f'font-weight="{700 if hot else 400}" fill="{stroke}">{esc(label)}</text>'
            )
        return out

    body = [
        '<rect x="10" y="50" width="180" height="240" rx="12" fill="#eef2ff" stroke="#4338ca" '
        'stroke-width="1.5" stroke-dasharray="8 4"/>',
        '<text x="100" y="72" text-anchor="middle" font-size="13" font-weight="700" fill="#3730a3">AWS KMS</text>',
        _box(25, 150, 150, 60, "KMS key", "alias/ImportedCMK", create or attach),
        # EBS: the volume
        '<rect x="300" y="50" width="230" height="240" rx="12" fill="none" stroke="#6b7280" stroke-width="1.2"/>',
        '<text x="415" y="72" text-anchor="middle" font-size="13" font-weight="700" fill="#374151">'
        "EBS volume</text>",
        _box(315, 90, 200, 62, "Encrypted data key", "in the volume's metadata", create or attach),
        _box(315, 210, 200, 62, "Blocks on disk", "AES-256-XTS ciphertext", io),
        # EC2 host
        '<rect x="600" y="50" width="210" height="240" rx="12" fill="none" stroke="#6b7280" stroke-width="1.2"/>',
        '<text x="705" y="72" text-anchor="middle" font-size="13" font-weight="700" fill="#374151">'
        "EC2 host</text>",
        _box(615, 90, 180, 62, "Plaintext data key", "host memory only", attach or io, crossed=detach),
        _box(615, 210, 180, 62, "Your instance", "reads and writes plaintext", io),
        # 1: KMS -> encrypted data key
        path("M177,165 L313,120", create, "1 GenerateDataKey", 240, 108, anchor="middle"),
        '<text x="240" y="121" text-anchor="middle" font-size="10" fill="#374151">WithoutPlaintext</text>',
        # 2: encrypted data key -> KMS (Decrypt), plaintext key over the top -> host
        path("M313,140 L177,190", attach, "2 CreateGrant,", 250, 192, dashed=True),
        '<text x="250" y="205" text-anchor="middle" font-size="11" fill="#374151">Decrypt</text>',
        path("M100,148 L100,30 L705,30 L705,88", attach, "2 the plaintext data key goes to the host", 400, 24),
        # 3: I/O
        path("M705,154 L705,208", io),
        path("M613,232 L517,232", io, "3 encrypt", 565, 226),
        path("M517,256 L613,256", io, "decrypt", 565, 250 + 20),
        '<text x="410" y="312" text-anchor="middle" font-size="11" fill="#374151">'
        "every KMS call carries the encryption context aws:ebs:id = the volume id</text>",
    ]
    if detach:
        body.append(
            f'<text x="705" y="170" text-anchor="middle" font-size="11" fill="{HI}">dropped at detach</text>'
        )
    title = "Amazon EBS encryption with KMS" + (f": {step}" if step else "")
    return Diagram(_svg(820, 322, title, EBS_TEXT[step], "".join(body), uid), title, EBS_TEXT[step])


def _segment(x, y, w, h, title, lines, hot=False) -> str:
    stroke, fill = (HI, FILL_HI) if hot else (LO, FILL_LO)
    parts = [
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="{stroke}" '
        f'stroke-width="{2.5 if hot else 1.3}"/>',
        f'<text x="{x + 10}" y="{y + 20}" font-size="13" font-weight="700" fill="#111827">{esc(title)}</text>',
    ]
    for i, line in enumerate(lines):
        parts.append(f'<text x="{x + 10}" y="{y + 40 + 16 * i}" font-size="11" fill="#374151">{esc(line)}</text>')
    return "".join(parts)


def sdk_message_diagram(header=None, *, message_length: int | None = None, highlight: str | None = None) -> Diagram:
    """The layout of an AWS Encryption SDK message, filled in from `header` when given.

    `highlight` may be "context", "keys" or "signature".
    """
    uid = f"kw-sdk-{next(_ids)}"
    suite = "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384"
    frame = "4096"
    context_keys = ["your pairs", "aws-crypto-public-key"]
    keys_line = "one per master key: aws-kms, key ARN, blob"
    if header is not None:
        suite = header.algorithm.name
        frame = str(header.frame_length)
        context_keys = sorted(header.encryption_context)
        count = len(header.encrypted_data_keys)
        providers = sorted({k.key_provider.provider_id for k in header.encrypted_data_keys})
        keys_line = f"{count} encrypted data key{'s' if count != 1 else ''} ({', '.join(providers)})"
    header_lines = [
        "version 2, algorithm suite:",
        f"  {suite}",
        "message id (32 bytes)",
    ]
    context_lines = [", ".join(context_keys)[:60], "authenticated, NOT encrypted"]
    body = [
        _segment(10, 20, 340, 310, "Header", header_lines),
        _segment(20, 108, 320, 64, "Encryption context (AAD)", context_lines, highlight == "context"),
        _segment(20, 180, 320, 64, "Encrypted data keys", [keys_line], highlight == "keys"),
        _segment(20, 252, 320, 70, "Key commitment + header tag", ["binds the header to the data key"]),
        _segment(365, 20, 225, 310, "Body: frames", [
            f"frame length {frame} bytes",
            "each frame: sequence number,",
            "  IV, ciphertext, GCM tag",
            "…",
            "final frame: its own length,",
            "  so truncation is detected",
        ]),
        _segment(605, 20, 170, 310, "Footer", [
            "ECDSA P-384 signature",
            "over header and body:",
            "only the holder of the",
            "private key could have",
            "written this message",
        ], highlight == "signature"),
    ]
    if message_length is not None:
        body.append(
            f'<text x="390" y="350" text-anchor="middle" font-size="12" fill="#374151">'
            f"{message_length} bytes in all</text>"
        )
    title = "An AWS Encryption SDK message"
    desc = (
        "The message is one self-describing blob: a header with the algorithm suite, the "
        "encryption context (authenticated but readable), the encrypted data keys and a key "
        "commitment; the body in frames; and a footer with an ECDSA signature."
    )
    return Diagram(_svg(785, 360, title, desc, "".join(body), uid), title, desc)


__all__ = ["EBS_STEPS", "ebs_diagram", "sdk_message_diagram"]
