"""Every file the engine writes goes through here: a full disk or a read-only folder is one clear error.

A write that fails raises WriteError, whose message names the file and the cause in words ("no space left on
the device", "permission denied", "read-only file system", "input/output error"); the engine turns it into a
failed stage (engine.pipeline) or a refused command, never into a dead thread. Files are written atomically:
a temporary file beside the target, flushed to disk, then renamed over it, so a reader (or a kill) never sees
half a file. Every file is opened for writing by `open_for_write`, the one place a test simulates a fault.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The causes a person meets, in words; any other errno falls back to the system's own text.
CAUSES: dict[int, str] = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error",
    errno.EFBIG: "file too large",
    errno.ENAMETOOLONG: "file name too long",
    errno.EISDIR: "it is a folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.ENOENT: "its folder does not exist",
    errno.ELOOP: "it is a symbolic link (refused: a run folder's files are never followed elsewhere)",
    errno.ENXIO: "it is a named pipe (FIFO) no process reads",
}


class WriteError(Exception):
    """A file that could not be written; `str(error)` is one line: the file and the cause in words."""

    def __init__(self, path: Path | str, cause: str) -> None:
        super().__init__(f"{path}: cannot write: {cause}")
        self.path = Path(path)
        self.cause = cause


def os_error_cause(error: OSError) -> str:
    """The cause of an OSError in words. Libraries such as h5py leave errno unset and quote it in the text."""
    code = error.errno
    if code is None:
        quoted = re.search(r"errno = (\d+)", str(error))
        code = int(quoted.group(1)) if quoted else None
    if code in CAUSES:
        return CAUSES[code]
    text = error.strerror or (os.strerror(code) if code else "") or " ".join(str(error).split())
    return (text[:1].lower() + text[1:]) or type(error).__name__


def write_error(path: Path | str, error: OSError) -> WriteError:
    return WriteError(path, os_error_cause(error))


@contextlib.contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn any OSError raised inside the block into WriteError naming `path`."""
    try:
        yield
    except OSError as error:
        raise write_error(path, error) from error


def open_for_write(path: Path, flags: int) -> int:
    """The one place the engine opens a file for writing (tests replace it to simulate a full disk).

    Never through a symbolic link: one planted in a shared run folder must not redirect a write elsewhere.
    Never blocking: a FIFO planted where a log is appended to fails (ENXIO) instead of waiting for a reader.
    """
    return os.open(path, flags | os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_atomic(path: Path, content: bytes) -> None:
    """Write `content` to `path` whole or not at all; WriteError naming `path` when the disk refuses.

    The bytes go to a temporary file beside `path`, are flushed to disk, and the file is renamed over
    `path`: a rename within one folder is atomic on POSIX and Windows. On failure the temporary file is
    removed and `path` is as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # left by a killed process with our pid
            fd = open_for_write(tmp, os.O_CREAT | os.O_EXCL)
            try:
                _write_all(fd, content)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def append_line(path: Path, line: bytes) -> None:
    """Append one line with a single O_APPEND write: it lands whole, after everything written before."""
    with writing(path):
        fd = open_for_write(Path(path), os.O_CREAT | os.O_APPEND)
        try:
            _write_all(fd, line)
        finally:
            os.close(fd)


def create_exclusive(path: Path, content: bytes) -> None:
    """Create `path` holding `content`, failing with FileExistsError if it exists (a lock file).

    Any other fault is WriteError, and a file created but not fully written is removed again.
    """
    path = Path(path)
    try:
        fd = open_for_write(path, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        raise
    except OSError as error:
        raise write_error(path, error) from error
    try:
        with writing(path):
            try:
                _write_all(fd, content)
            finally:
                os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
