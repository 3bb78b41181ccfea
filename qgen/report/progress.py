"""Progress of a long report on stderr: which step is running, shown only once the run has taken a while."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from qgen.errors import MetricError

__all__ = ["Progress"]


class Progress:
    """Stage messages for a command that is usually quick but sometimes is not (`qgen evaluate` at N = 10).

    Nothing is printed while the run is younger than `delay` seconds, so a quick report stays silent. Once it
    is older, the stage that is running is shown, then every later stage: on a terminal ("bar") as one status
    line rewritten in place with the elapsed time, ticking every second; elsewhere ("lines", a log file) as one
    line per stage, the same choice `qgen train` makes for its progress.

    Args:
        name: what is running, the prefix of every message ("qgen evaluate").
        mode: True ("bar" on a terminal, else "lines"), False (silent), "bar" or "lines".
        delay: seconds of silence before the first message.
        stream: where the messages go (default sys.stderr, looked up when the run starts).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> with Progress("qgen evaluate", mode="lines", delay=0.0, stream=out) as progress:
        ...     progress.stage("classical fidelity")
        >>> out.getvalue().startswith("qgen evaluate: classical fidelity (")
        True
    """

    def __init__(self, name: str, mode: bool | str = True, *, delay: float = 2.0, stream: TextIO | None = None):
        if mode not in (True, False, "bar", "lines"):
            raise MetricError(f"progress must be True, False, 'bar' or 'lines', got {mode!r}")
        if not (isinstance(delay, int | float) and delay >= 0):
            raise MetricError(f"delay must be a number of seconds >= 0, got {delay!r}")
        self.name, self.mode, self.delay, self._stream = name, mode, float(delay), stream
        self._lock = threading.Lock()
        self._current: str | None = None
        self._start = 0.0
        self._shown = False  # the delay has passed: every stage is printed from now on
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._width = 0
        self._style_now = ""

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def _style(self) -> str:
        if self.mode is True:
            isatty = getattr(self.stream, "isatty", None)
            return "bar" if callable(isatty) and isatty() else "lines"
        return str(self.mode) if self.mode else ""

    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        self._style_now = self._style()
        if self._style_now:
            self._thread = threading.Thread(target=self._watch, name="qgen-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._shown and self._style_now == "bar":
                # leave the terminal line clean for what the command prints next
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()

    def stage(self, message: str) -> None:
        """The step that starts now (printed at once if the run is already past `delay`)."""
        with self._lock:
            self._current = message
            if self._shown:
                self._emit()

    def _watch(self) -> None:
        """Wait out the delay, then show the running stage; on a terminal, refresh its clock every second."""
        if self._stop.wait(max(0.0, self._start + self.delay - time.perf_counter())):
            return
        with self._lock:
            self._shown = True
            if self._current is not None:
                self._emit()
        if self._style_now != "bar":
            return
        while not self._stop.wait(1.0):
            with self._lock:
                if self._current is not None:
                    self._emit()

    def _emit(self) -> None:
        """Print the current stage with the elapsed time (caller holds the lock)."""
        text = f"{self.name}: {self._current} ({time.perf_counter() - self._start:.0f} s)"
        if self._style_now == "bar":
            self.stream.write("\r" + text.ljust(self._width))
            self._width = max(self._width, len(text))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
