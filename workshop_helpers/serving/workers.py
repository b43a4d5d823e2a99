"""`serve --workers N`: N worker processes serving one listening socket and one account.

Moto answers a request while holding Python's GIL, so one process serves one request at
a time whatever its threads. N processes serve N at once. They share what must be shared
through what already works across processes: the listening socket (bound by the parent
and inherited, so the kernel hands each connection to one worker) and the account on disk
(account.sync keeps each worker's moto in step under the per-account file locks, as it
keeps several kernels in step). So the account must be on disk: --ephemeral is refused.

The parent binds, does the one-time class set-up, then starts each worker fresh
(`python -m workshop_helpers serve ... --listen-fd FD`: never a fork of a process that
holds SQLite connections or threads), waits until each says it serves (its first stdout
line, as `serve` always prints it), forwards SIGTERM and SIGINT, and reports a worker that
dies at start, or later, in one line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from ..errors import WorkshopError

READY_PREFIX = "KMS_WORKSHOP_ENDPOINT_URL="
START_TIMEOUT = 120.0  # seconds: a worker imports moto and opens the account
STOP_TIMEOUT = 45.0  # seconds: longer than a worker's own stop grace


class Workers:
    def __init__(self, count: int, sock: socket.socket, worker_args: list[str], say: Callable[[str], None]):
        self.count = count
        self.sock = sock
        self.worker_args = worker_args
        self.say = say
        self.procs: list[subprocess.Popen] = []

    def _argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "workshop_helpers",
            "serve",
            *self.worker_args,
            "--listen-fd",
            str(self.sock.fileno()),
        ]

    def start(self) -> None:
        """Start every worker and wait until each serves; WorkshopError (one line) if one dies first."""
        fd = self.sock.fileno()
        for _ in range(self.count):
            self.procs.append(
                subprocess.Popen(
                    self._argv(), pass_fds=(fd,), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True
                )
            )
        lines: list[str | None] = [None] * self.count

        def first_line(i: int) -> None:
            lines[i] = self.procs[i].stdout.readline()

        readers = [threading.Thread(target=first_line, args=(i,), daemon=True) for i in range(self.count)]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        for i, reader in enumerate(readers):
            reader.join(max(0.0, deadline - time.monotonic()))
            if not (lines[i] or "").startswith(READY_PREFIX):
                try:  # its stdout closed: it has exited, or is about to
                    code = self.procs[i].wait(5) if lines[i] is not None else self.procs[i].poll()
                except subprocess.TimeoutExpired:
                    code = None
                self.stop()
                why = f"exited with code {code}" if code is not None else f"did not start within {START_TIMEOUT:.0f} s"
                raise WorkshopError(
                    f"worker {i + 1} of {self.count} {why} (its error, if any, is above); the endpoint is not running"
                )
        self.sock.close()  # the workers hold it now; the port is free once they all stop

    def wait(self, stopping: threading.Event) -> int:
        """Until `stopping` is set (then stop every worker) or a worker dies; the exit code."""
        while not stopping.wait(0.5):
            for i, proc in enumerate(self.procs):
                code = proc.poll()
                if code is not None:
                    self.say(
                        f"worker {i + 1} of {self.count} (pid {proc.pid}) exited with code {code}; stopping the others"
                    )
                    self.stop()
                    return 1
        codes = self.stop()
        return 0 if all(code == 0 for code in codes) else 1

    def stop(self) -> list[int]:
        """SIGTERM to every worker still running; their exit codes once they have stopped."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
            if proc.stdout is not None:
                proc.stdout.close()
        try:
            self.sock.close()
        except OSError:
            pass
        return codes


def inherited_socket(fd: int) -> socket.socket:
    """The listening socket a worker was handed by its parent."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise WorkshopError(
            f"--listen-fd {fd} is not a socket ({exc.strerror or exc}); it is for serve's own workers"
        ) from None
    os.set_inheritable(fd, False)
    return sock
