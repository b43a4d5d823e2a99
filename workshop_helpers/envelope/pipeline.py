"""The frames, streamed: the main thread reads and runs AES-GCM; other threads hash and write.

AES-GCM in `cryptography` holds the GIL; file reads and writes and hashlib's SHA-384 (on
more than 2 KiB) release it. So while the main thread reads and encrypts or decrypts
frame N+1:

- a writer thread copies frame N into the output (os.pwrite at known offsets into a
  regular file, plain writes in order into anything else). One writer, not two: every
  write to one file takes that file's inode lock, so a second writer only waits (and, on
  Linux, spins on the lock, burning the core the cipher needs; measured on the 2-core VM);
- for the signed suite, a hasher thread feeds the message bytes, in order, to SHA-384 (the
  signature covers the SHA-384 of header and body). That hash is the slowest step of the
  signed suite, so it gets a core of its own; the writer takes each buffer once hashed.

A few reused buffers circulate between the threads, so memory stays at a few frames
whatever the message size.
"""

from __future__ import annotations

import io
import os
import queue
import stat
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag

from . import keys as keymod
from . import message as fmt
from .refusals import (
    AuthenticationError,
    FrameError,
    LimitExceededError,
    SignatureError,
    TrailingDataError,
    TruncatedError,
)

Progress = Callable[[int, int], Any]

# Signed decrypt: record buffers in flight through the hasher, and spare plaintext buffers
# for the writer, so that a slow write or a late read seldom starves the hasher, the
# suite's bottleneck, of its next frame (1 MiB each at the default frame size).
READ_BUFFERS_SIGNED = 6
WRITE_EXTRA_SIGNED = 2


def write_all(sink: BinaryIO, view) -> None:
    """Raw files may write short; keep going until every byte is out."""
    view = memoryview(view)
    while view:
        written = sink.write(view)
        view = view[written:]


def input_size(stream: BinaryIO) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        return 0


def positional_fd(sink: BinaryIO) -> int | None:
    """The file descriptor of a regular file we can pwrite into, else None."""
    try:
        fd = sink.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def check_limits(sequence_number: int, plaintext_done: int) -> None:
    if sequence_number > fmt.MAX_FRAMES:
        raise LimitExceededError(f"the message has more than {fmt.MAX_FRAMES} frames")
    if plaintext_done > fmt.MAX_MESSAGE_SIZE:
        raise LimitExceededError(f"the message is larger than {fmt.MAX_MESSAGE_SIZE} bytes")


class _Stage:
    """Worker threads that take (view, size, extra) items from a queue, in order per thread.

    An exception in a worker is kept and raised in the main thread at its next call; once
    the main thread fails (`abort`), workers skip their work but keep recycling buffers.
    """

    def __init__(self, threads: int, name: str):
        self._pending: queue.SimpleQueue = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.aborted = False
        self._workers = [threading.Thread(target=self._run, name=name, daemon=True) for _ in range(threads)]
        self._closed = False
        for worker in self._workers:
            worker.start()

    def _run(self) -> None:
        while (item := self._pending.get()) is not None:
            if self.error is None and not self.aborted:
                try:
                    self.work(*item)
                except BaseException as exc:  # noqa: BLE001 - raised in the main thread by raise_if_failed()
                    self.error = exc
            self.done(*item)

    def work(self, view: memoryview, size: int, extra: Any) -> None:
        raise NotImplementedError

    def done(self, view: memoryview, size: int, extra: Any) -> None:
        raise NotImplementedError

    def put(self, view, size: int, extra: Any = None) -> None:
        self._pending.put((view, size, extra))

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Wait until every queued item is done; idempotent."""
        if self._closed:
            return
        self._closed = True
        for _ in self._workers:
            self._pending.put(None)
        for worker in self._workers:
            worker.join()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.aborted = True
        self.close()  # always: the caller may delete the file right after
        if exc_type is None:
            self.raise_if_failed()


class Writer(_Stage):
    """Writes filled buffers into the sink, each right after the previous one."""

    def __init__(self, sink: BinaryIO, buffer_size: int, *, threads: int = 1, extra_buffers: int = 0):
        self._sink = sink
        self._fd = positional_fd(sink)
        self.offset = sink.tell() if self._fd is not None else 0
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        threads = threads if self._fd is not None else 1
        for _ in range(threads + 2 + extra_buffers):
            self._free.put(memoryview(bytearray(buffer_size)))
        super().__init__(threads, "envelope-writer")

    def buffer(self) -> memoryview:
        """A buffer to fill; waits while every buffer is in use."""
        view = self._free.get()
        self.raise_if_failed()
        return view

    def submit(self, view: memoryview, size: int) -> None:
        """Queue the first `size` bytes of `view`, to land right after the previous ones."""
        self.put(view, size, self.offset)
        self.offset += size

    def work(self, view: memoryview, size: int, offset: int) -> None:
        self._write(view[:size], offset)

    def done(self, view: memoryview, size: int, offset: int) -> None:
        self._free.put(view)

    def _write(self, view: memoryview, offset: int) -> None:
        if self._fd is None:
            write_all(self._sink, view)
            return
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def finish(self, tail: bytes = b"") -> None:
        """Wait for every queued write, then write `tail` (the footer) after them."""
        self.close()
        self.raise_if_failed()
        if tail:
            self._write(memoryview(tail), self.offset)
            self.offset += len(tail)


class Hasher(_Stage):
    """SHA-384 of the message bytes, in order, on a thread of its own; then `after(view)`."""

    def __init__(self, after: Callable[[memoryview, int], None]):
        self._hash = keymod.new_hash()
        self._after = after
        super().__init__(1, "envelope-hasher")

    def update_now(self, data: bytes) -> None:
        """Hash bytes in the calling thread, before anything is queued (the header)."""
        self._hash.update(data)

    def work(self, view: memoryview, size: int, extra: Any) -> None:
        self._hash.update(view[:size])

    def done(self, view: memoryview, size: int, extra: Any) -> None:
        self._after(view, size)

    def digest(self) -> bytes:
        self.close()
        self.raise_if_failed()
        return self._hash.digest()


# --- encrypt --------------------------------------------------------------------------------


def encrypt_frames(
    source: BinaryIO,
    sink: BinaryIO,
    keys: keymod.MessageKeys,
    header: bytes,
    message_id: bytes,
    frame_size: int,
    signer: keymod.Signer | None,
    progress: Progress | None,
) -> None:
    """Write the header, every frame and (signed) the footer into `sink`.

    Frames hold exactly `frame_size` plaintext bytes, the final one 0..frame_size: the next
    frame is read ahead, so a plaintext that is a multiple of the frame size ends with a
    full final frame (what the specification says an encryptor SHOULD do).
    """
    total = input_size(source) if progress else 0
    aead = keys.aead
    current = memoryview(bytearray(frame_size))
    ahead = memoryview(bytearray(frame_size))
    regular_prefix = message_id + fmt.FRAME_AAD_LABEL
    final_prefix = message_id + fmt.FINAL_FRAME_AAD_LABEL
    write_all(sink, header)
    with Writer(sink, frame_size + fmt.FINAL_FRAME_OVERHEAD, extra_buffers=2 if signer else 0) as writer:
        hasher = Hasher(writer.submit) if signer else None
        try:
            if hasher:
                hasher.update_now(header)
            emit = hasher.put if hasher else writer.submit
            size = fmt.read_fully(source, current)
            sequence, done = 1, size
            while True:
                if size == frame_size:
                    next_size = fmt.read_fully(source, ahead)
                    final = next_size == 0
                else:
                    next_size, final = 0, True
                check_limits(sequence, done)
                record = writer.buffer()
                if hasher:
                    hasher.raise_if_failed()
                iv = fmt.frame_iv(sequence)
                tail = fmt.BODY_AAD_TAIL.pack(sequence, size)
                if final:
                    fmt.FINAL_FRAME_HEAD.pack_into(record, 0, fmt.SEQUENCE_NUMBER_END, sequence, iv, size)
                    start = fmt.FINAL_FRAME_HEAD.size
                    aead.encrypt_into(
                        iv, current[:size], final_prefix + tail, record[start : start + size + fmt.TAG_BYTES]
                    )
                    emit(record, start + size + fmt.TAG_BYTES)
                else:
                    fmt.REGULAR_FRAME_HEAD.pack_into(record, 0, sequence, iv)
                    start = fmt.REGULAR_FRAME_HEAD.size
                    aead.encrypt_into(iv, current, regular_prefix + tail, record[start : start + size + fmt.TAG_BYTES])
                    emit(record, start + size + fmt.TAG_BYTES)
                if progress:
                    progress(done, total)
                if final:
                    break
                current, ahead = ahead, current
                size, sequence, done = next_size, sequence + 1, done + next_size
            footer = b""
            if hasher:
                assert signer is not None  # a signing suite has both
                signature = signer.sign(hasher.digest())
                footer = fmt.FOOTER_LENGTH.pack(len(signature)) + signature
        except BaseException:
            _abort(writer, hasher)
            raise
        writer.finish(footer)


def _abort(writer, hasher) -> None:
    """Stop the writer (its output is discarded) and the hash thread, on any failure."""
    writer.aborted = True
    if hasher:
        hasher.aborted = True
        hasher.close()


# --- decrypt --------------------------------------------------------------------------------


class _ReadPool:
    """Record buffers for decryption: one, reused, unsigned; several circulating through
    the hasher when signed (a buffer is read again only once its bytes are hashed)."""

    def __init__(self, size: int, count: int):
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(count):
            self._free.put(memoryview(bytearray(size)))

    def get(self) -> memoryview:
        return self._free.get()

    def put(self, view: memoryview, size: int = 0) -> None:
        self._free.put(view)


def decrypt_frames(
    source: BinaryIO,
    sink: BinaryIO,
    keys: keymod.MessageKeys,
    header: fmt.Header,
    progress: Progress | None,
) -> None:
    """Verify and write every frame, then (signed) the signature; return only once the
    message ended exactly where it should. What `sink` receives counts only if this returns."""
    frame_size = header.frame_size
    regular_size = fmt.REGULAR_FRAME_OVERHEAD + frame_size
    # A final frame can be 8 bytes longer than a regular one.
    record_size = fmt.FINAL_FRAME_OVERHEAD + frame_size
    signed = header.signed
    pool = _ReadPool(record_size, READ_BUFFERS_SIGNED if signed else 1)
    aead = keys.aead
    message_id = header.message_id
    regular_prefix = message_id + fmt.FRAME_AAD_LABEL
    final_prefix = message_id + fmt.FINAL_FRAME_AAD_LABEL
    total = input_size(source) if progress else 0
    consumed = len(header.raw)
    with Writer(sink, frame_size, extra_buffers=WRITE_EXTRA_SIGNED if signed else 0) as writer:
        hasher = Hasher(pool.put) if signed else None
        try:
            if hasher:
                hasher.update_now(header.raw)
            sequence, plaintext_done = 1, 0
            while True:
                record = pool.get()
                if hasher:
                    hasher.raise_if_failed()
                got = fmt.read_fully(source, record[:regular_size])
                if got < 4:
                    raise TruncatedError(f"the message ends after {sequence - 1} frames, without its final frame")
                check_limits(sequence, plaintext_done)
                first = int.from_bytes(record[:4], "big")
                final = first == fmt.SEQUENCE_NUMBER_END
                if final:
                    if got < fmt.FINAL_FRAME_HEAD.size:
                        raise TruncatedError(f"the message ends inside its final frame {sequence}")
                    _, number, iv, size = fmt.FINAL_FRAME_HEAD.unpack_from(record, 0)
                    if size > frame_size:
                        raise FrameError(f"the final frame claims {size} bytes; frames hold at most {frame_size}")
                    start = fmt.FINAL_FRAME_HEAD.size
                    end = start + size + fmt.TAG_BYTES
                    if got < end:
                        got += fmt.read_fully(source, record[got:end])
                        if got < end:
                            raise TruncatedError(f"the message ends inside its final frame {sequence}")
                else:
                    if first != sequence:  # before the length: a changed marker reads as this
                        _check_frame(first, b"", sequence, False)
                    if got < regular_size:
                        raise TruncatedError(f"the message ends inside frame {sequence}")
                    number, iv = fmt.REGULAR_FRAME_HEAD.unpack_from(record, 0)
                    size = frame_size
                    start = fmt.REGULAR_FRAME_HEAD.size
                    end = regular_size
                _check_frame(number, iv, sequence, final)
                leftover = bytes(record[end:got]) if final else b""
                if hasher:
                    hasher.put(record, end)  # hashed while the frame is decrypted
                plaintext_done += size
                check_limits(sequence, plaintext_done)
                plain = writer.buffer()
                prefix = final_prefix if final else regular_prefix
                try:
                    aead.decrypt_into(
                        iv, record[start:end], prefix + fmt.BODY_AAD_TAIL.pack(sequence, size), plain[:size]
                    )
                except InvalidTag:
                    raise AuthenticationError(
                        f"frame {sequence} failed authentication: the message was modified or spliced"
                    ) from None
                finally:
                    if not hasher:
                        pool.put(record)
                writer.submit(plain, size)
                consumed += end
                if final:
                    break
                if progress:
                    progress(consumed, total)
                sequence += 1
            if hasher:
                consumed += _verify_footer(source, leftover, header, hasher.digest())
            elif leftover or source.read(1):
                raise TrailingDataError("bytes follow the final frame: something was appended to the message")
        except BaseException:
            _abort(writer, hasher)
            raise
        writer.finish()
    if progress:
        progress(consumed, total)


def _check_frame(number: int, iv: bytes, sequence: int, final: bool) -> None:
    if number != sequence:
        kind = "the final frame" if final else "a frame"
        raise FrameError(
            f"{kind} carries sequence number {number} where {sequence} was due: "
            "frames were reordered, dropped or repeated"
        )
    if iv != fmt.frame_iv(sequence):
        raise FrameError(f"frame {sequence} has an IV other than the one the format prescribes")


def _verify_footer(source: BinaryIO, leftover: bytes, header: fmt.Header, digest: bytes) -> int:
    """Read the footer (after `leftover`, the bytes already read past the final frame),
    require the end of the input, verify the signature; return the footer's length."""
    data = leftover + fmt.read_exact(source, max(0, fmt.FOOTER_LENGTH.size - len(leftover)))
    if len(data) < fmt.FOOTER_LENGTH.size:
        raise TruncatedError("the message ends before its signature footer")
    (length,) = fmt.FOOTER_LENGTH.unpack_from(data, 0)
    if length > fmt.MAX_SIGNATURE_BYTES:
        raise LimitExceededError(
            f"the footer claims a signature of {length} bytes; at most {fmt.MAX_SIGNATURE_BYTES} are accepted"
        )
    if length == 0:
        raise SignatureError("the footer's signature is empty")
    wanted = fmt.FOOTER_LENGTH.size + length
    if len(data) < wanted:
        data += fmt.read_exact(source, wanted - len(data))
        if len(data) < wanted:
            raise TruncatedError("the message ends inside its signature footer")
    if len(data) > wanted or source.read(1):
        raise TrailingDataError("bytes follow the signature footer: something was appended to the message")
    assert header.public_key is not None  # a signed suite's header carries it (checked on read)
    keymod.verify(header.public_key, digest, data[fmt.FOOTER_LENGTH.size : wanted])
    return wanted
