"""A message's anatomy, from its own bytes, without KMS: every header field, the frames,
the footer, each with its offset and size. For the notebooks (03 and 06) and for tests.

Nothing here is verified: it is a reading of the layout (docs/envelope-format.md).
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from . import message as fmt
from .refusals import FrameError, LimitExceededError, TruncatedError

HEADER_ROW = ("offset", "bytes", "field", "value")


@dataclass(frozen=True)
class Part:
    offset: int
    size: int
    name: str
    value: str


@dataclass(frozen=True)
class Frame:
    offset: int
    size: int  # the whole frame, framing included
    sequence_number: int
    final: bool
    content_length: int  # plaintext (and ciphertext) bytes


@dataclass(frozen=True)
class Anatomy:
    header: fmt.Header
    parts: tuple[Part, ...]
    frames: tuple[Frame, ...]
    footer_offset: int | None
    size: int

    def rows(self) -> list[tuple[int, int, str, str]]:
        """(offset, bytes, field, value) rows: show them with display.table(rows, header=HEADER_ROW)."""
        return [(p.offset, p.size, p.name, p.value) for p in self.parts]


def _short_hex(data: bytes) -> str:
    """The first 4 bytes in hex and the length: "09a650ea… (32 bytes)". (Eight characters and
    an ellipsis, like display.shorten_blob: what the notebooks' output sanitizer expects of
    values that differ from run to run.)"""
    return f"{data[:4].hex()}… ({len(data)} bytes)"


def _header_value(field: fmt.Field, header: fmt.Header) -> str:
    value = field.value
    name = field.name
    if name == "algorithm suite id":
        return str(header.suite)
    if name == "content type":
        return f"{value} (framed)"
    if name == "encryption context":
        shown = []
        for key, text in value.items():
            if key == fmt.PUBLIC_KEY_CONTEXT_KEY and header.signed:
                shown.append(f"{key}={text[:8]}… (ECDSA P-384 public key: verifies the footer's signature)")
            else:
                shown.append(f"{key}={text}")
        return "; ".join(shown) or "(empty: the field has no bytes)"
    if name.endswith("provider id"):
        return value.decode("utf-8", "replace")
    if name.endswith("provider info"):
        return value.decode("utf-8", "replace")
    if name.endswith("encrypted data key"):
        return f"{_short_hex(value)}: the data key, encrypted by KMS (CiphertextBlob)"
    if isinstance(value, bytes):
        return _short_hex(value)
    return str(value)


def _header_parts(header: fmt.Header) -> list[Part]:
    return [Part(f.offset, f.size, f.name, _header_value(f, header)) for f in header.fields]


def _read_at(source: BinaryIO, offset: int, size: int, what: str) -> bytes:
    source.seek(offset)
    data = fmt.read_exact(source, size)
    if len(data) < size:
        raise TruncatedError(f"the message ends inside {what}")
    return data


def _frame_parts(frame: Frame, data: bytes) -> list[Part]:
    o, n = frame.offset, frame.sequence_number
    if frame.final:
        _, _, iv, length = fmt.FINAL_FRAME_HEAD.unpack_from(data, 0)
        return [
            Part(o, 4, f"final frame {n}: sequence number end", "ffffffff"),
            Part(o + 4, 4, f"final frame {n}: sequence number", str(n)),
            Part(o + 8, 12, f"final frame {n}: IV", iv.hex()),
            Part(o + 20, 4, f"final frame {n}: content length", str(length)),
            Part(o + 24, length, f"final frame {n}: encrypted content", f"{length} bytes of AES-256-GCM ciphertext"),
            Part(o + 24 + length, 16, f"final frame {n}: authentication tag", _short_hex(data[-16:])),
        ]
    _, iv = fmt.REGULAR_FRAME_HEAD.unpack_from(data, 0)
    length = frame.content_length
    return [
        Part(o, 4, f"frame {n}: sequence number", str(n)),
        Part(o + 4, 12, f"frame {n}: IV", iv.hex()),
        Part(o + 16, length, f"frame {n}: encrypted content", f"{length} bytes of AES-256-GCM ciphertext"),
        Part(o + 16 + length, 16, f"frame {n}: authentication tag", _short_hex(data[-16:])),
    ]


def anatomy_of(
    source: BinaryIO, *, max_frame_size: int = fmt.MAX_FRAME_SIZE, max_encrypted_data_keys: int = 16
) -> Anatomy:
    header = fmt.parse_header(source, max_encrypted_data_keys=max_encrypted_data_keys, max_frame_size=max_frame_size)
    parts = _header_parts(header)
    frames: list[Frame] = []
    offset, sequence, frame_size = len(header.raw), 1, header.frame_size
    while True:
        if sequence > fmt.MAX_FRAMES:
            raise LimitExceededError(f"the message has more than {fmt.MAX_FRAMES} frames")
        first = _read_at(source, offset, 4, f"frame {sequence}")
        if struct.unpack(">I", first)[0] == fmt.SEQUENCE_NUMBER_END:
            head = _read_at(source, offset, fmt.FINAL_FRAME_HEAD.size, f"final frame {sequence}")
            length = fmt.FINAL_FRAME_HEAD.unpack_from(head, 0)[3]
            if length > frame_size:
                raise FrameError(f"the final frame claims {length} bytes; frames hold at most {frame_size}")
            frame = Frame(offset, fmt.FINAL_FRAME_OVERHEAD + length, sequence, True, length)
        else:
            frame = Frame(offset, fmt.REGULAR_FRAME_OVERHEAD + frame_size, sequence, False, frame_size)
        frames.append(frame)
        offset += frame.size
        sequence += 1
        if frame.final:
            break
    # Details for the first and the final frame; one line for those in between.
    for index, frame in enumerate(frames):
        if index in (0, len(frames) - 1):
            data = _read_at(source, frame.offset, frame.size, f"frame {frame.sequence_number}")
            parts += _frame_parts(frame, data)
        elif index == 1:
            between = frames[1:-1]
            size = sum(f.size for f in between)
            parts.append(
                Part(
                    frame.offset,
                    size,
                    f"frames 2..{len(frames) - 1}",
                    f"{len(between)} regular frames like frame 1, {frame_size} bytes of content each",
                )
            )
    footer_offset = None
    if header.signed:
        footer_offset = offset
        (length,) = fmt.FOOTER_LENGTH.unpack(_read_at(source, offset, 2, "the footer"))
        signature = _read_at(source, offset + 2, length, "the footer")
        parts.append(Part(offset, 2, "footer: signature length", str(length)))
        parts.append(
            Part(
                offset + 2,
                length,
                "footer: signature",
                f"{_short_hex(signature)}: ECDSA P-384 over SHA-384 of header and frames",
            )
        )
        offset += 2 + length
    source.seek(0, io.SEEK_END)
    end = source.tell()
    if end > offset:
        parts.append(Part(offset, end - offset, "trailing bytes", "not part of the message: decrypt refuses it"))
    return Anatomy(header, tuple(parts), tuple(frames), footer_offset, end)


def anatomy(source: bytes | bytearray | str | os.PathLike, **limits) -> Anatomy:
    """The anatomy of a message (bytes) or a file (path)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return anatomy_of(io.BytesIO(bytes(source)), **limits)
    with open(source, "rb") as stream:
        return anatomy_of(stream, **limits)
