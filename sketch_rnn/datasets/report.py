"""What a conversion kept and what it skipped, with where and why.

Converters never stop at the first bad line, drawing or SVG element: they record it here and go
on. A :class:`Report` ends up in the CLI summary; :class:`NoUsableDataError` is the one error
raised when nothing usable remains.

Example:
    >>> r = Report()
    >>> r.skip("cat.ndjson:3", "malformed JSON")
    >>> r.converted += 2
    >>> print(r.summary())
    converted 2, skipped 1
      malformed JSON: 1 (cat.ndjson:3)
"""

from __future__ import annotations

import dataclasses
from collections import Counter

__all__ = ["Problem", "Report", "NoUsableDataError"]


class NoUsableDataError(ValueError):
    """Raised when every input item was skipped; the message carries the report's summary."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One skipped item: ``where`` (``file:line``, ``file#element-id``, ...) and ``why``.

    Example:
        >>> Problem("a.svg#t1", "text ignored").why
        'text ignored'
    """

    where: str
    why: str


@dataclasses.dataclass
class Report:
    """Counts of converted items and the list of skipped ones.

    Example:
        >>> a, b = Report(converted=1), Report()
        >>> b.skip("x.bin@17", "truncated record")
        >>> a.merge(b).n_skipped
        1
    """

    converted: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)

    def skip(self, where: str, why: str) -> None:
        """Record one skipped item.

        Example:
            >>> r = Report(); r.skip("f:1", "empty drawing"); r.n_skipped
            1
        """
        self.problems.append(Problem(where, why))

    @property
    def n_skipped(self) -> int:
        """Number of skipped items."""
        return len(self.problems)

    def merge(self, other: Report) -> Report:
        """Add another report's counts and problems to this one (returns ``self``).

        Example:
            >>> Report(converted=2).merge(Report(converted=3)).converted
            5
        """
        self.converted += other.converted
        self.problems.extend(other.problems)
        return self

    def by_reason(self) -> Counter[str]:
        """How many items were skipped for each reason.

        Example:
            >>> r = Report(); r.skip("a", "x"); r.skip("b", "x"); r.by_reason()["x"]
            2
        """
        return Counter(p.why for p in self.problems)

    def summary(self, max_places: int = 8) -> str:
        """Readable summary: totals, then each reason with a count and its first places.

        Example:
            >>> Report(converted=4).summary()
            'converted 4, skipped 0'
        """
        lines = [f"converted {self.converted}, skipped {self.n_skipped}"]
        places: dict[str, list[str]] = {}
        for p in self.problems:
            places.setdefault(p.why, []).append(p.where)
        for why, wheres in sorted(places.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            shown = ", ".join(wheres[:max_places])
            more = f", ... {len(wheres) - max_places} more" if len(wheres) > max_places else ""
            lines.append(f"  {why}: {len(wheres)} ({shown}{more})")
        return "\n".join(lines)

    def require_some(self, what: str = "drawings") -> None:
        """Raise :class:`NoUsableDataError` when nothing was converted.

        Example:
            >>> Report(converted=1).require_some()
        """
        if self.converted == 0:
            raise NoUsableDataError(f"no usable {what} found; {self.summary()}")
