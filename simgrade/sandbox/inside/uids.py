"""Dedicated unprivileged uids for student code when the grader runs as root.

Student code never runs as host root. A grader that is root runs it under a uid of its own from
``UID_BASE`` .. ``UID_BASE + UID_COUNT - 1`` (``SIMGRADE_UID_BASE`` moves the range), leased with
``flock`` on ``LOCK_DIR/<uid>.lock`` so that concurrent graders never share one. A uid that no
one else uses makes three things exact that are otherwise approximate:

    processes   ``kill(-1, SIGKILL)`` sent *as that uid* reaches every process it owns, in any
                session or process group, atomically (fork cannot race the kernel's walk)
    files       whatever it left in the world-writable places (/tmp, /var/tmp, /dev/shm) is
                found by owner and removed
    limits      RLIMIT_NPROC counts per real uid, so it binds (it never binds root)

Both sides use this module: the grader (``simgrade.sandbox``) and the zygote (``worker.py``).
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import stat
import time

UID_BASE = int(os.environ.get("SIMGRADE_UID_BASE", "61000"))
UID_COUNT = 1000
LOCK_DIR = "/run/simgrade-uids" if os.path.isdir("/run") else "/tmp/simgrade-uids"
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")
"""World-writable places where a runner's files may outlive it."""
MAX_SWEEP_ENTRIES = 200_000
PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18
LIBC = ctypes.CDLL(None, use_errno=True)


def _lock_dir() -> str:
    """The root-only directory of lock files (refused if anyone else could tamper with it)."""
    try:
        os.mkdir(LOCK_DIR, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(LOCK_DIR)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise OSError(f"{LOCK_DIR} is not a directory that only root can write")
    return LOCK_DIR


class UidLease:
    """One dedicated uid, held until :meth:`release` (or until this process dies: flock ends with it)."""

    def __init__(self):
        directory = _lock_dir()
        for uid in range(UID_BASE, UID_BASE + UID_COUNT):
            fd = os.open(os.path.join(directory, f"{uid}.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self.fd = uid, fd
            sweep(uid)  # whatever a grader that died before its cleanup left under this uid
            return
        raise OSError(f"all {UID_COUNT} sandbox uids from {UID_BASE} are in use")

    def release(self) -> None:
        """Kill the uid's processes, remove its files, give the uid back."""
        if self.fd is None:
            return
        sweep(self.uid)
        os.close(self.fd)
        self.fd = None


def become(uid: int) -> None:
    """Switch this process to ``uid`` for good: no groups, no capabilities, no way back (no_new_privs)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def live_processes(uid: int) -> list[int]:
    """Pids of the processes (zombies excepted) whose real uid is ``uid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                status = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and not fields.get("State", "").strip().startswith("Z"):
            found.append(int(name))
    return found


def kill_all(uid: int) -> None:
    """SIGKILL every process of ``uid``: ``kill(-1)`` from a child that has become ``uid``."""
    for _ in range(20):
        pid = os.fork()
        if pid == 0:
            try:
                become(uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:  # noqa: BLE001 - nothing to kill raises ProcessLookupError
                pass
            os._exit(0)
        os.waitpid(pid, 0)
        if not live_processes(uid):
            return
        time.sleep(0.01)


def remove_files(uid: int, places: tuple[str, ...] = SHARED_WRITABLE) -> None:
    """Remove what ``uid`` owns under ``places`` (run once its processes are gone: nothing races)."""
    seen = 0
    for top in places:
        for folder, dirs, files in os.walk(top, followlinks=False):
            keep = []
            for name in dirs + files:
                seen += 1
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if info.st_uid == uid:
                    if stat.S_ISDIR(info.st_mode):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        with contextlib.suppress(OSError):
                            os.unlink(path)
                elif stat.S_ISDIR(info.st_mode) and info.st_mode & 0o002:
                    keep.append(name)  # only world-writable folders can hold another uid's files
            dirs[:] = keep
            if seen > MAX_SWEEP_ENTRIES:
                return


def sweep(uid: int) -> None:
    """Nothing of ``uid`` survives: its processes, then its files in the shared writable places."""
    kill_all(uid)
    remove_files(uid)


def reachable_by_others(path: str) -> bool:
    """Every directory from / down to ``path`` lets other users through (o+x), and ``path`` is readable by them."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & 0o004:
        return False
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


def _blocking_ancestor(path: str) -> str | None:
    """The outermost directory above ``path`` that other users cannot pass through, if any."""
    parts = os.path.realpath(path).split("/")[1:]
    for i in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        if not os.stat(ancestor).st_mode & 0o001:
            return ancestor
    return None


def _within(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or lies inside it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def private_view(reach: list[str], hide: list[str]) -> list[str]:
    """In a new mount namespace of this process (root only): ``reach`` readable by any uid, ``hide`` gone.

    A runtime under /root (mode 0700) cannot be read by an unprivileged uid. Here, and only in this
    process's own mount namespace, each closed ancestor (/root) is covered by an empty tmpfs that
    anyone may pass through, and just the needed paths are bound back into it: nothing else of that
    ancestor is visible. Each path of ``hide`` is covered by an empty, unreadable, read-only tmpfs (a folder) or
    /dev/null (a file). Returns what was done, in words.
    """
    covers: dict[str, list[str]] = {}
    for path in reach:
        ancestor = _blocking_ancestor(path)
        if ancestor is not None:
            covers.setdefault(ancestor, []).append(os.path.realpath(path))
    needed = [os.path.realpath(p) for p in reach]
    hide = [h for h in (os.path.realpath(p) for p in hide if os.path.exists(p))  # never what the runtime needs
            if not any(_within(n, h) for n in needed)]
    hide = sorted({h for h in hide if not any(o != h and _within(h, o) for o in hide)})  # a covered folder's insides go with it
    if not covers and not hide:
        return []
    _check(LIBC.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(LIBC.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    done = []
    for ancestor, inner in covers.items():
        # opened in this namespace, before the cover hides them: bind sources must belong to it
        handles = [(p, os.open(p, os.O_PATH)) for p in inner]
        _check(LIBC.mount(b"tmpfs", ancestor.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=1m"),
               f"cover {ancestor}")
        for path, fd in handles:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(path, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                open(path, "a").close()
            _check(LIBC.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
            os.close(fd)
        done.append(f"{ancestor} reduced to the runtime")
    for path in hide:
        if os.path.isdir(path):
            _check(LIBC.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, b"size=4k,mode=0000"),
                   f"hide {path}")
        else:
            _check(LIBC.mount(b"/dev/null", path.encode(), None, MS_BIND, None), f"hide {path}")
        done.append(f"{path} hidden")
    return done
