"""Reading the submission folder safely: the depth- and entry-limited walk, files opened with ``O_NOFOLLOW``
and checked on the open descriptor (no symlink out, no hard link, no FIFO or device), the size limits, the
private copy for the sandbox, ``answers.toml``, and the time and bytes that parsing may spend."""
from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass

from simgrade.discover.notes import _Notes

MAX_FILE_BYTES = 2 * 1024 * 1024
"""A file larger than this is neither copied nor parsed."""
MAX_TOTAL_BYTES = 16 * 1024 * 1024
"""At most this many bytes are copied into :attr:`Submission.files`."""
MAX_FILES = 300
"""At most this many files are copied into :attr:`Submission.files`."""
MAX_DEPTH = 4
"""Files at most this many folders below the submission folder are read."""
MAX_ANSWERS_BYTES = 64 * 1024
"""A larger ``answers.toml`` is refused."""
MAX_ENTRIES = 5000
"""The walk stops after looking at this many directory entries (a folder bomb cannot stall it)."""
MAX_PARSE_BYTES = 4 * 1024 * 1024
"""At most this much source (``.py`` files, notebooks' code cells) is parsed in all; later files are not searched for code."""
DISCOVER_SECONDS = 10.0
"""Parsing stops after this many seconds of discovery; the files not yet parsed are not searched for code."""

SKIP_DIRS = frozenset({".git", "__pycache__"})
"""Folders that are never read."""
NOT_CODE_DIRS = frozenset({".ipynb_checkpoints", "__MACOSX"})
"""Folders whose files are copied but never searched for code (autosaves, zip debris)."""


@dataclass
class _Entry:
    rel: str
    path: str  # what to open (the real path for an in-folder symlink)
    size: int


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


_BAD_NAME = re.compile(r"[\x00-\x1f\x7f\\]")


def _name_ok(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _BAD_NAME.search(name)


def _walk(root: str, notes: _Notes) -> list[_Entry]:
    """Every regular file under ``root`` (depth-limited, symlinks out refused), sorted by path."""
    entries: list[_Entry] = []
    examined = 0
    stopped = False

    def visit(dirpath: str, rel: str, depth: int) -> None:
        nonlocal examined, stopped
        if stopped:
            return
        items = []
        try:
            with os.scandir(dirpath) as it:
                for item in it:
                    items.append(item)
                    if len(items) > MAX_ENTRIES:
                        break
        except OSError as exc:
            notes.add(f"{rel or '.'}: folder not readable ({exc.strerror or exc}); skipped")
            return
        items.sort(key=lambda e: e.name)
        for item in items:
            examined += 1
            if examined > MAX_ENTRIES:
                if not stopped:
                    notes.add(f"more than {MAX_ENTRIES} files and folders: the rest were not read")
                stopped = True
                return
            if not _name_ok(item.name):
                notes.add(f"{rel}{item.name!r}: a name with control characters or not UTF-8; skipped")
                continue
            relp = rel + item.name
            try:
                if item.is_symlink():
                    _symlink(item, relp, depth)
                elif item.is_dir(follow_symlinks=False):
                    if item.name in SKIP_DIRS:
                        continue
                    if depth >= MAX_DEPTH:
                        notes.add(f"{relp}/: more than {MAX_DEPTH} folders deep; not read")
                        continue
                    visit(item.path, relp + "/", depth + 1)
                elif item.is_file(follow_symlinks=False):
                    entries.append(_Entry(relp, item.path, item.stat(follow_symlinks=False).st_size))
                else:
                    notes.add(f"{relp}: not a regular file (FIFO, socket or device); skipped")
            except OSError as exc:
                notes.add(f"{relp}: not readable ({exc.strerror or exc}); skipped")

    def _symlink(item: os.DirEntry, relp: str, depth: int) -> None:
        target = os.path.realpath(item.path)
        if not _inside(target, root):
            notes.add(f"{relp}: a symlink that leads out of the submission folder; refused")
            return
        try:
            st = os.stat(target)
        except OSError:
            notes.add(f"{relp}: a broken symlink; skipped")
            return
        if stat.S_ISDIR(st.st_mode):
            notes.add(f"{relp}: a symlink to a folder; not followed")
        elif stat.S_ISREG(st.st_mode):
            entries.append(_Entry(relp, target, st.st_size))
        else:
            notes.add(f"{relp}: a symlink to something that is not a regular file; skipped")

    visit(root, "", 0)
    entries.sort(key=lambda e: e.rel)
    return entries


def _read_bytes(path: str, limit: int) -> bytes | str:
    """The file's bytes, or a reason it was refused. Never follows a final symlink, never blocks on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        return f"not readable ({exc.strerror or exc})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_nlink != 1:  # another name of the same file may lie outside the submission (the key, say)
            return f"a hard link (one file with {st.st_nlink} names)"
        if st.st_size > limit:
            return f"larger than {limit // 1024} KiB"
        parts: list[bytes] = []
        got = 0
        while True:
            block = os.read(fd, min(1 << 20, limit + 1 - got))
            if not block:
                break
            parts.append(block)
            got += len(block)
            if got > limit:
                return f"larger than {limit // 1024} KiB"
        return b"".join(parts)
    except OSError as exc:
        return f"not readable ({exc.strerror or exc})"
    finally:
        os.close(fd)


def _priority(entry: _Entry) -> tuple:
    name = entry.rel.rsplit("/", 1)[-1]
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    rank = 0 if entry.rel == "answers.toml" else 1 if suffix in ("py", "ipynb", "toml") else 2
    return (rank, entry.rel.count("/"), entry.rel)


def _private_copy(entries: list[_Entry], notes: _Notes) -> dict[str, bytes]:
    """The sandbox's private copy: relative path -> bytes, answers.toml and code first, limits applied."""
    files: dict[str, bytes] = {}
    total = 0
    for entry in sorted(entries, key=_priority):
        if entry.size > MAX_FILE_BYTES:
            notes.add(f"{entry.rel}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; refused")
            continue
        if len(files) >= MAX_FILES:
            notes.add(f"{entry.rel}: more than {MAX_FILES} files; skipped")
            continue
        if total + entry.size > MAX_TOTAL_BYTES:
            notes.add(f"{entry.rel}: the submission is over {MAX_TOTAL_BYTES // (1024 * 1024)} MiB in all; skipped")
            continue
        data = _read_bytes(entry.path, MAX_FILE_BYTES)
        if isinstance(data, str):
            notes.add(f"{entry.rel}: {data}; refused")
            continue
        if total + len(data) > MAX_TOTAL_BYTES:
            notes.add(f"{entry.rel}: the submission is over {MAX_TOTAL_BYTES // (1024 * 1024)} MiB in all; skipped")
            continue
        files[entry.rel] = data
        total += len(data)
    return dict(sorted(files.items()))


@dataclass
class _Budget:
    """What discovery may still spend on parsing: until a deadline, and at most so many bytes of source."""

    deadline: float
    bytes_left: int

    @classmethod
    def start(cls) -> _Budget:
        """A fresh budget: :data:`DISCOVER_SECONDS` from now, :data:`MAX_PARSE_BYTES` of source."""
        return cls(time.monotonic() + DISCOVER_SECONDS, MAX_PARSE_BYTES)

    def spent(self) -> str | None:
        """Why nothing more may be parsed, or None."""
        if time.monotonic() > self.deadline:
            return f"discovery's {DISCOVER_SECONDS:g} s budget is spent"
        return None

    def take(self, size: int) -> str | None:
        """Charge ``size`` bytes of source; why they may not be parsed, or None."""
        why = self.spent()
        if why is None and size > self.bytes_left:
            why = f"over the {MAX_PARSE_BYTES // (1024 * 1024)} MiB of source discovery parses in all"
        if why is None:
            self.bytes_left -= size
        return why


def _decode(data: bytes) -> str | None:
    """Text for source files: UTF-8 (a BOM allowed), no NUL bytes; None when that fails."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _answers(entries: list[_Entry], files: dict[str, bytes], notes: _Notes) -> bytes | None:
    top = [e for e in entries if e.rel == "answers.toml"]
    anywhere = [e for e in entries if e.rel.rsplit("/", 1)[-1] == "answers.toml"]
    if top:
        entry = top[0]
    elif len(anywhere) == 1:
        entry = anywhere[0]
        notes.add(f"answers.toml: using {entry.rel}")
    elif anywhere:
        notes.add(f"answers.toml: none at the top of the folder and {len(anywhere)} elsewhere "
                  f"({', '.join(e.rel for e in anywhere[:4])}); none used")
        return None
    else:
        return None
    if entry.size > MAX_ANSWERS_BYTES or len(files.get(entry.rel, b"")) > MAX_ANSWERS_BYTES:
        notes.add(f"{entry.rel}: larger than {MAX_ANSWERS_BYTES // 1024} KiB; not read")
        return None
    if entry.rel not in files:
        notes.add(f"{entry.rel}: could not be read; written answers not graded")
        return None
    return files[entry.rel]
