"""Ranks' output: every line prefixed with its rank, whole lines only, optionally filtered and logged.

One reader thread per rank and stream reads raw bytes from the pipe and cuts them into lines;
a line is written (prefix, text, terminator) in one write under a lock shared by both consoles,
so lines from different ranks never mix within a line. A carriage return ends a line too, so a
progress bar redrawn with ``\\r`` keeps redrawing in place instead of waiting for a newline.
"""

from __future__ import annotations

import collections
import os
import re
import sys
import threading
from pathlib import Path
from typing import BinaryIO

__all__ = ["OutputMux", "split_lines"]

TAIL_LINES = 20  # stderr lines kept per rank for the failure report
# A lone \r ends a line only once the next byte shows it is not half of \r\n.
_LINE_END = re.compile(rb"\r\n|\n|\r(?=[^\n])")


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (with their terminator: ``\\n``, ``\\r\\n`` or ``\\r``) and the unfinished rest.

    >>> split_lines(b"a\\nb\\r\\nc\\rd")
    ([b'a\\n', b'b\\r\\n', b'c\\r'], b'd')
    >>> split_lines(b"x\\r")  # could still become \\r\\n: wait for the next byte
    ([], b'x\\r')
    """
    lines, start = [], 0
    for m in _LINE_END.finditer(buffer):
        lines.append(buffer[start:m.end()])
        start = m.end()
    return lines, buffer[start:]


class OutputMux:
    """Fans ranks' pipes out to the console (prefixed, filtered) and to ``rank_<r>.log`` files."""

    def __init__(self, log_dir: str | None = None, ranks_filter: set[int] | None = None,
                 stdout: BinaryIO | None = None, stderr: BinaryIO | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir else None
        self.ranks_filter = ranks_filter
        self._out = stdout or sys.stdout.buffer
        self._err = stderr or sys.stderr.buffer
        self._lock = threading.Lock()
        self._logs: dict[int, BinaryIO] = {}
        self._threads: dict[int, list[threading.Thread]] = {}
        self.tails: dict[int, collections.deque[str]] = {}
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)

    def attach(self, rank: int, stdout_fd: int, stderr_fd: int, header: str | None = None) -> None:
        """Start copying one rank's pipes; ``header`` goes to its log file first (e.g. "attempt 2")."""
        self.tails[rank] = collections.deque(maxlen=TAIL_LINES)
        if self.log_dir and rank not in self._logs:
            self._logs[rank] = open(self.log_dir / f"rank_{rank}.log", "ab")  # appended across restarts
        if header and rank in self._logs:
            with self._lock:
                self._logs[rank].write(f"===== {header} =====\n".encode())
                self._logs[rank].flush()
        threads = [threading.Thread(target=self._pump, args=(rank, fd, is_err), daemon=True,
                                    name=f"vt-launch-r{rank}-{'err' if is_err else 'out'}")
                   for fd, is_err in ((stdout_fd, False), (stderr_fd, True))]
        self._threads[rank] = threads
        for t in threads:
            t.start()

    def drain(self, rank: int, timeout: float) -> None:
        """Wait (up to ``timeout`` s) until rank's pipes reach end of file: all its output is out."""
        for t in self._threads.get(rank, ()):
            t.join(timeout)

    def tail(self, rank: int) -> list[str]:
        return list(self.tails.get(rank, ()))

    def message(self, text: str) -> None:
        """A launcher message on stderr, never inside a rank's line."""
        with self._lock:
            self._err.write(text.encode() + (b"" if text.endswith("\n") else b"\n"))
            self._err.flush()

    def close(self) -> None:
        with self._lock:
            for f in self._logs.values():
                f.close()
            self._logs.clear()

    def _pump(self, rank: int, fd: int, is_err: bool) -> None:
        prefix = f"[{rank}] ".encode()
        console = self._err if is_err else self._out
        shown = self.ranks_filter is None or rank in self.ranks_filter
        rest = b""
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                lines, rest = split_lines(rest + chunk)
                self._emit(rank, lines, prefix, console, shown, is_err)
            if rest:
                self._emit(rank, [rest + b"\n"], prefix, console, shown, is_err)
        except OSError:
            pass  # the pipe went away with the launcher's shutdown
        finally:
            os.close(fd)

    def _emit(self, rank: int, lines: list[bytes], prefix: bytes, console: BinaryIO, shown: bool,
              is_err: bool) -> None:
        if not lines:
            return
        if is_err:
            tail = self.tails[rank]
            for line in lines:
                tail.append(line.rstrip(b"\r\n").decode(errors="replace"))
        with self._lock:
            if shown:
                console.write(b"".join(prefix + line for line in lines))
                console.flush()
            log = self._logs.get(rank)
            if log:
                log.write(b"".join(lines))
                log.flush()
