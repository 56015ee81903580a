"""The bubblewrap command that starts the zygote: what it sees (read-only runtime, no project) and its namespaces."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from simgrade import PROJECT_ROOT

INSIDE = Path(__file__).resolve().parent / "inside"
"""The only project code the sandbox sees: the zygote and its helpers."""


def runtime_roots() -> list[Path]:
    """Directories the sandbox must see read-only to run Python and torch."""
    roots = {Path("/usr"), Path("/etc"), Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    for entry in sys.path:
        path = Path(entry)
        if entry and path.is_dir() and ("site-packages" in entry or "dist-packages" in entry):
            roots.add(path.resolve())
    for root in list(roots):  # keep only the outermost
        if any(other != root and other in root.parents for other in roots):
            roots.discard(root)
    return sorted(roots)


def _project_masks(roots: list[Path]) -> list[Path]:
    """Project folders that lie inside a runtime root (an installed copy): hidden from the sandbox."""
    import simgrade

    project = [PROJECT_ROOT, Path(simgrade.__file__).parent, *project_secrets()]
    return sorted({p.resolve() for p in project if any(r == p or r in p.parents for r in roots)})


def project_secrets() -> list[Path]:
    """What student code must never read: the key, the question files (wherever configured), the reference, the checks."""
    import checks
    import reference

    from simgrade.questions import folders

    return [PROJECT_ROOT / "answers", *folders(), Path(reference.__file__).parent, Path(checks.__file__).parent]


def bwrap_command(fd: int, uid: int) -> list[str]:
    roots = runtime_roots()
    command = [bwrap(), "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
               "--unshare-uts", "--unshare-cgroup-try", "--uid", str(uid), "--gid", str(uid),
               "--die-with-parent", "--new-session", "--cap-drop", "ALL",
               "--tmpfs", "/tmp"]  # first: a runtime that lives under /tmp is bound on top of it
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            command += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            roots.append(top)
    for root in roots:
        command += ["--ro-bind", str(root), str(root)]
    for mask in _project_masks(roots):
        command += ["--tmpfs", str(mask)]
    command += ["--ro-bind", str(INSIDE), "/sandbox", "--proc", "/proc", "--dev", "/dev",
                "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for key, value in environment().items():
        command += ["--setenv", key, value]
    return command + ["--", sys.executable, "-I", "-B", "/sandbox/worker.py", str(fd)]


def bwrap() -> str | None:
    """bubblewrap's absolute path (the root launcher execs it without a PATH search)."""
    return shutil.which("bwrap")


def environment() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONDONTWRITEBYTECODE": "1"}
