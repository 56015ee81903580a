"""A cgroup over the whole sandbox (processes and memory, all its processes together), when the grader is root."""
from __future__ import annotations

import contextlib
import itertools
import os
import time
from pathlib import Path


_CGROUP_NUMBERS = itertools.count()


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per controller (``""``: the v2 hierarchy), from /proc/self/cgroup."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


class Cgroup:
    """Caps the processes and the memory of the whole sandbox, all its processes together (grader as root).

    RLIMIT_NPROC does not bind root and RLIMIT_AS counts one process at a time; a cgroup counts the
    whole tree. v2 (pids.max, memory.max, memory.swap.max) or v1 (the pids and memory hierarchies),
    made inside the grader's own cgroup so that any limit on the grader still holds.
    """

    def __init__(self, processes: int):
        self.dirs: list[Path] = []
        self.memory: list[tuple[Path, str]] = []  # (folder, kind): where the memory limit goes once the zygote is up
        name = f"simgrade-{os.getpid()}-{next(_CGROUP_NUMBERS)}"
        own = _own_cgroups()
        if Path("/sys/fs/cgroup/cgroup.controllers").exists():
            for parent in (Path("/sys/fs/cgroup" + own.get("", "/")), Path("/sys/fs/cgroup")):
                folder = self._make(parent, name, {"pids.max": str(processes)}, enable="+pids +memory")
                if folder is not None:
                    self.memory.append((folder, "v2"))
                    return
            return
        for controller, settings in (("pids", {"pids.max": str(processes)}), ("memory", {})):
            base = Path("/sys/fs/cgroup") / controller
            folder = self._make(base / own.get(controller, "/").lstrip("/"), name, settings) if base.is_dir() else None
            if folder is not None and controller == "memory":
                self.memory.append((folder, "v1"))

    def _make(self, parent: Path, name: str, settings: dict[str, str], enable: str = "") -> Path | None:
        self._sweep(parent)
        folder = parent / name
        try:
            if enable:
                (parent / "cgroup.subtree_control").write_text(enable)
            folder.mkdir()
        except OSError:
            return None
        self.dirs.append(folder)
        try:
            for setting, value in settings.items():
                (folder / setting).write_text(value)
        except OSError:
            pass
        return folder

    @property
    def procs(self) -> list[str]:
        """The files a process writes its pid into to join."""
        return [str(d / "cgroup.procs") for d in self.dirs]

    def limit_memory(self, extra_bytes: int) -> int | None:
        """Cap memory at what the zygote holds now (torch imported; page cache excepted) plus ``extra_bytes``; no swap."""
        for folder, kind in self.memory:
            usage, cache, limit_file, swap_file = (("memory.current", "file", "memory.max", "memory.swap.max") if kind == "v2"
                                                   else ("memory.usage_in_bytes", "cache", "memory.limit_in_bytes",
                                                         "memory.memsw.limit_in_bytes"))
            try:
                stats = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
                limit = int((folder / usage).read_text()) - int(stats.get(cache, 0)) + extra_bytes
                (folder / limit_file).write_text(str(limit))
            except (OSError, ValueError):
                continue
            with contextlib.suppress(OSError):
                (folder / swap_file).write_text("0" if kind == "v2" else str(limit))
            return limit
        return None

    @staticmethod
    def _sweep(base: Path) -> None:
        """Remove the empty cgroups of graders that are gone (one killed before it could clean up)."""
        for stale in base.glob("simgrade-*-*"):
            owner = stale.name.split("-")[1]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(OSError):
                    stale.rmdir()

    def remove(self) -> None:
        """Delete the cgroups once their last process has gone (the kernel refuses while any remain)."""
        for folder in self.dirs:
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.01)
        self.dirs = []
