"""A one-line progress display for long conversions (carriage return, no dependency).

On a terminal the line is redrawn in place at most every ``interval`` seconds; elsewhere (logs,
CI) only the final line is written, so captured output stays short.

Example:
    >>> import io
    >>> buf = io.StringIO()
    >>> p = Progress("cat.ndjson", total=4, stream=buf)
    >>> p.update(4); p.close()
    >>> "4/4" in buf.getvalue()
    True
"""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts finished items and shows ``label: done/total (pct) rate ETA``.

    ``stream=None`` silences it (the library default; the CLI passes ``sys.stderr``).

    Example:
        >>> p = Progress("x", total=None, stream=None); p.update(3); p.done
        3
    """

    def __init__(self, label: str, total: int | None = None, *, stream: TextIO | None = None,
                 unit: str = "drawings", interval: float = 0.25) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream
        self.done = 0
        self._interval = interval
        self._start = time.perf_counter()
        self._last = 0.0
        self._live = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def _line(self) -> str:
        elapsed = time.perf_counter() - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            return (f"{self.label}: {self.done}/{self.total} {self.unit} ({pct:5.1f}%) "
                    f"{rate:,.0f}/s, {elapsed:.1f} s, ETA {eta:.0f} s")
        return f"{self.label}: {self.done} {self.unit} {rate:,.0f}/s, {elapsed:.1f} s"

    def update(self, n: int = 1) -> None:
        """Add ``n`` finished items and redraw if enough time has passed.

        Example:
            >>> p = Progress("x", stream=None); p.update(2); p.update(); p.done
            3
        """
        self.done += n
        if not self._live:
            return
        now = time.perf_counter()
        if now - self._last >= self._interval:
            self._last = now
            self.stream.write("\r" + self._line() + "\x1b[K")  # type: ignore[union-attr]
            self.stream.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        """Write the final line (and a newline).

        Example:
            >>> Progress("x", stream=None).close()
        """
        if self.stream is None:
            return
        self.stream.write(("\r" if self._live else "") + self._line() + "\n")
        self.stream.flush()
