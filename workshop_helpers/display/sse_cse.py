"""Pictures for the server-side and client-side notebooks (05 and 06).

- `ebs_diagram(step)`: what EBS and EC2 ask of KMS for an encrypted volume, steps 1 to 5
  numbered once each, one of them highlighted when asked: "create", "attach", "io" or "detach".
- `sdk_message_diagram(header)`: the parts of an AWS Encryption SDK message: header
  (algorithm suite, encryption context, encrypted data keys, commitment, header tag),
  framed body, and the footer signature.

Like every workshop SVG they carry a <title> and a <desc>, announced by screen readers.
"""

from __future__ import annotations

import itertools

from .svg import FILL_HI, FILL_LO, HI, LO, Diagram, _box, _svg, boundary, label, stroke

EBS_STEPS = ("create", "attach", "io", "detach")

EBS_TEXT = {
    None: "Amazon EBS encryption. 1: when the volume is created, EBS gets a data key from KMS "
    "only in encrypted form (GenerateDataKeyWithoutPlaintext) and stores it with the volume's "
    "metadata. 2: when the volume is attached, EC2 creates a grant and asks KMS to decrypt that "
    "key. 3: KMS returns the plaintext data key to the EC2 host, which keeps it in memory. 4: the "
    "host (the hypervisor, not your instance's operating system) encrypts every block written and "
    "decrypts every block read; the instance sees only plaintext, the volume holds only "
    "ciphertext. 5: at detach the host drops the plaintext key.",
    "create": "Step 1, CreateVolume: EBS asks KMS for a data key without plaintext "
    "(GenerateDataKeyWithoutPlaintext, context aws:ebs:id = the volume id) and stores the "
    "encrypted data key with the volume's metadata.",
    "attach": "Steps 2 and 3, AttachVolume: EC2 creates a grant (CreateGrant) and asks KMS to decrypt the "
    "encrypted data key (Decrypt, same context); the plaintext data key goes to the EC2 host's "
    "memory only.",
    "io": "Step 4, reads and writes: the EC2 host encrypts and decrypts every block with the data "
    "key; the instance sees plaintext, the volume only ever holds ciphertext.",
    "detach": "Step 5, DetachVolume: the host drops the plaintext data key; the encrypted data key "
    "and the ciphertext stay with the volume.",
}

_ids = itertools.count(1)


def ebs_diagram(step: str | None = None) -> Diagram:
    """EBS and EC2 with KMS, steps 1 to 5 numbered once each; `step` (one of EBS_STEPS) drawn in orange."""
    if step not in (None, *EBS_STEPS):
        raise ValueError(f"step must be one of {', '.join(EBS_STEPS)} or None, not {step!r}")
    uid = f"kw-ebs-{step or 'all'}-{next(_ids)}"
    create, attach, io, detach = (step == s for s in EBS_STEPS)

    def path(d, hot, dashed=False):
        return (
            f'<path d="{d}" {stroke(HI if hot else LO, 3 if hot else 1.5, dash="6 4" if dashed else "")} '
            f'marker-end="url(#{uid}-{"hi" if hot else "lo"})"/>'
        )

    def note(x, y, text, hot, anchor="middle"):
        return label(x, y, text, weight=700 if hot else 400, anchor=anchor, halo=True)

    # Three columns: AWS KMS (x 10-170), the EBS volume (300-520), the EC2 host (600-830).
    # Every line keeps clear of the three titles; every label sits in a gap, not on a border.
    body = [
        boundary(10, 40, 160, 270, "AWS KMS"),
        _box(20, 150, 140, 60, "KMS key", "alias/ImportedCMK", create or attach),
        boundary(300, 40, 220, 270, "EBS volume"),
        _box(310, 90, 200, 62, "Encrypted data key", "with the volume's metadata", create or attach),
        _box(310, 226, 200, 62, "Blocks on disk", "ciphertext only", io),
        boundary(600, 40, 230, 270, "EC2 host (hypervisor)", title_x=612, anchor="start"),
        _box(615, 90, 200, 62, "Plaintext data key", "in host memory only", attach or io, crossed=detach),
        _box(640, 226, 175, 62, "Your instance", "sees plaintext only", io),
        # 1: KMS -> the encrypted data key, kept with the volume
        path("M162,165 L308,112", create),
        note(235, 100, "1 GenerateDataKey", create),
        note(235, 113, "WithoutPlaintext", create),
        # 2: the encrypted data key -> KMS (CreateGrant, Decrypt); the plaintext key -> the host,
        # over the top, right of the "AWS KMS" title and left of nothing else
        path("M308,140 L162,193", attach, dashed=True),
        note(235, 203, "2 CreateGrant,", attach),
        note(235, 216, "Decrypt", attach),
        path("M140,148 L140,22 L790,22 L790,88", attach),
        note(460, 16, "3 KMS returns the plaintext data key to the EC2 host", attach),
        # 4: the host encrypts what the instance writes, decrypts what it reads
        path("M727,224 L727,155", io),
        path("M703,155 L703,224", io),
        note(735, 194, "plaintext", io, anchor="start"),
        path("M613,140 L512,236", io),
        path("M512,262 L613,166", io),
        note(560, 178, "4 encrypt", io),
        note(578, 238, "decrypt", io),
        # 5: detach (below the host's frame, not on its border)
        label(715, 326, "5 at detach the host drops the key", weight=700 if detach else 400),
        label(420, 346, "every KMS call carries the encryption context aws:ebs:id = the volume id"),
    ]
    title = "Amazon EBS encryption with KMS" + (f": {step}" if step else "")
    return Diagram(_svg(840, 356, title, EBS_TEXT[step], "".join(body), uid), title, EBS_TEXT[step])


def _segment(x, y, w, h, title, lines, hot=False) -> str:
    color, tint = (HI, FILL_HI) if hot else (LO, FILL_LO)
    parts = [
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" {stroke(color, 2.5 if hot else 1.3, tint)}/>',
        label(x + 10, y + 20, title, 13, 700, anchor="start"),
    ]
    for i, line in enumerate(lines):
        parts.append(label(x + 10, y + 40 + 16 * i, line, anchor="start"))
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
        _segment(
            365,
            20,
            225,
            310,
            "Body: frames",
            [
                f"frame length {frame} bytes",
                "each frame: sequence number,",
                "  IV, ciphertext, GCM tag",
                "…",
                "final frame: its own length,",
                "  so truncation is detected",
            ],
        ),
        _segment(
            605,
            20,
            170,
            310,
            "Footer",
            [
                "ECDSA P-384 signature",
                "over header and body:",
                "only the holder of the",
                "private key could have",
                "written this message",
            ],
            highlight == "signature",
        ),
    ]
    if message_length is not None:
        body.append(label(390, 350, f"{message_length} bytes in all", 12))
    title = "An AWS Encryption SDK message"
    desc = (
        "The message is one self-describing blob: a header with the algorithm suite, the "
        "encryption context (authenticated but readable), the encrypted data keys and a key "
        "commitment; the body in frames; and a footer with an ECDSA signature."
    )
    return Diagram(_svg(785, 360, title, desc, "".join(body), uid), title, desc)


__all__ = [
    "ebs_diagram",
    "sdk_message_diagram",
]
