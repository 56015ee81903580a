"""One-line notes for the student and the TA: every decision of discovery is one note (deduplicated, capped)."""
from __future__ import annotations

from simgrade.text import untrusted


MAX_NOTES = 200
"""At most this many notes are kept; the rest are counted in a last note."""


def _clean(text: str, limit: int = 300) -> str:
    """One printable line: control, bidi and separator characters escaped, at most ``limit`` characters."""
    return untrusted(text, limit, multiline=False)


def _snippet(source: str, limit: int = 60) -> str:
    """The first non-blank line of ``source``, shortened, for a note."""
    for line in source.splitlines():
        if line.strip():
            line = line.strip()
            more = len(source.strip().splitlines()) > 1
            if len(line) > limit:
                return line[: limit - 1] + "…"
            return line + (" …" if more else "")
    return ""


class _Notes:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0
        self.seen: set[str] = set()

    def add(self, message: str) -> None:
        message = _clean(message)
        if message in self.seen:
            return
        self.seen.add(message)
        if len(self.items) < MAX_NOTES:
            self.items.append(message)
        else:
            self.dropped += 1

    def done(self) -> list[str]:
        out = list(self.items)
        if self.dropped:
            out.append(f"... and {self.dropped} more notes not shown")
        return out
