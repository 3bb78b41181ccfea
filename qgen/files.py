"""The one atomic writer: every file qgen writes goes to a temporary name beside it and is renamed into place.

A crash, kill -9 or full disk never leaves a half-written file under the real name. The finished file gets the
mode a normal file gets under the user's umask (or keeps the mode of the file it replaces), not mkstemp's
owner-only 0600. Temporary names carry the writer's process id, so a later write of the same target removes
the leftovers of writers that died.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from qgen.errors import QgenError

__all__ = ["AtomicFile", "atomic_write", "FileWriteError", "default_mode", "interrupt_handler", "check_interrupted"]

_SUFFIX = ".qgen-tmp"


class FileWriteError(QgenError, OSError):
    """A file could not be written (folder missing, not writable, disk full); the message names the file."""


def default_mode() -> int:
    """The mode a new regular file gets under the current umask (0o666 & ~umask)."""
    # os.umask can only be read by setting it; the lock keeps two threads from seeing each other's 0.
    with _UMASK_LOCK:
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


_UMASK_LOCK = threading.Lock()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(path: Path) -> None:
    """Delete temporary files of `path` left by writers that no longer run."""
    prefix = f".{path.name}."
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(_SUFFIX)):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            with contextlib.suppress(OSError):
                entry.unlink()


# Temporary files of writes in progress in this process, removed on SIGTERM (kill -9 leaves them for the next
# write of the same target to clean).
_OPEN: set[Path] = set()
_HANDLER_LOCK = threading.Lock()
_previous_handler: Any = None


# Set by the command line's SIGINT handler. Python drops an exception that a signal handler raises while a weakref
# callback or __del__ runs (it prints "Exception ignored in ..." and goes on), so a Ctrl-C can vanish mid-run; the
# writers check this record at every chunk and before every commit, so an interrupted command never commits.
_INTERRUPTED = threading.Event()


def interrupt_handler(signum: int, frame: FrameType | None) -> None:
    """The command line's SIGINT handler: record the interrupt, then raise KeyboardInterrupt as Python's does."""
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if the command line has been interrupted, even if that exception was dropped."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    for tmp in list(_OPEN):
        with contextlib.suppress(OSError):
            tmp.unlink()
    handler = _previous_handler
    if callable(handler):
        handler(signum, frame)
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_sigterm_cleanup() -> None:
    global _previous_handler
    if threading.current_thread() is not threading.main_thread():
        return
    with _HANDLER_LOCK:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm:
            return
        _previous_handler = current
        signal.signal(signal.SIGTERM, _on_sigterm)


class AtomicFile:
    """A file written under a temporary name and renamed to `path` by `commit()`.

    Args:
        path: the file to create or replace. Its folder must exist.

    Attributes:
        path: the final name.
        tmp: the temporary name to write to (same folder, so the rename is atomic).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> f = AtomicFile(folder / "a.txt")
        >>> _ = f.tmp.write_text("hello")
        >>> f.commit()
        >>> (folder / "a.txt").read_text(), [p.name for p in folder.iterdir()]
        ('hello', ['a.txt'])
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise FileWriteError(f"{self.path}: cannot write: it is a directory")
        if not self.path.parent.is_dir():
            raise FileWriteError(f"{self.path}: cannot write: folder {self.path.parent} does not exist")
        _remove_stale(self.path)
        self.tmp = self.path.parent / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}{_SUFFIX}"
        try:
            # O_EXCL: never follow or reuse a name another writer made.
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise FileWriteError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        os.close(fd)
        _OPEN.add(self.tmp)
        _install_sigterm_cleanup()
        self.done = False

    def commit(self) -> None:
        """fsync the finished temporary file, give it its mode, and rename it into place.

        Raises:
            KeyboardInterrupt: the command line was interrupted (`check_interrupted`); the temporary is removed.
        """
        if _INTERRUPTED.is_set():
            self.discard()
            raise KeyboardInterrupt
        try:
            mode = self.path.stat().st_mode & 0o777 if self.path.exists() else default_mode()
            os.chmod(self.tmp, mode)
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise FileWriteError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        finally:
            _OPEN.discard(self.tmp)
        self.done = True
        with contextlib.suppress(OSError):  # make the rename itself durable
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)

    def discard(self) -> None:
        """Remove the temporary file; the target is left as it was."""
        _OPEN.discard(self.tmp)
        with contextlib.suppress(OSError):
            self.tmp.unlink()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Write `path` atomically: yields a temporary path to write to; renamed into place if the block succeeds.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "report.json"
        >>> with atomic_write(target) as tmp:
        ...     _ = tmp.write_text("{}")
        >>> target.read_text()
        '{}'
    """
    f = AtomicFile(path)
    try:
        yield f.tmp
    except BaseException:
        f.discard()
        raise
    f.commit()
