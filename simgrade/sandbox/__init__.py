"""Run student code in a sandbox; only plain data comes back.

One :class:`Sandbox` per grading process: it starts a zygote (``inside/worker.py``) under
bubblewrap, which imports torch once while the grader does its own work. Each submission gets a
:class:`Session`: a runner forked from the zygote, in its own namespaces, with the limits of
:mod:`simgrade.sandbox.limits`, holding a private copy of the submission. Where bubblewrap or user
namespaces are unavailable, the zygote runs as a plain child process and :attr:`Sandbox.isolation`
says so plainly.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from simgrade import PROJECT_ROOT
from simgrade.sandbox.inside import protocol, uids
from simgrade.sandbox.limits import Limits

INSIDE = Path(__file__).resolve().parent / "inside"
NOBODY = 65534
READY_SECONDS = 120.0
MAX_CRASHES = 3
MAX_KEPT_BYTES = 64 << 20
"""Array bytes a session keeps from the student's replies, all calls together; past it the runner is stopped."""
MAX_ARRAY_ELEMENTS = 1 << 16
"""Largest array kept from one reply (a loss is one number; gradients are the small probe networks')."""


class SandboxError(Exception):
    """The sandbox itself could not be started or stopped answering."""


def _runtime_roots() -> list[Path]:
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
    """What student code must never read: the answer key, the reference implementations, the claim checks."""
    import checks
    import reference

    return [PROJECT_ROOT / "answers", Path(reference.__file__).parent, Path(checks.__file__).parent]


def _bwrap_command(fd: int, uid: int) -> list[str]:
    roots = _runtime_roots()
    command = [_bwrap(), "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
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
    for key, value in _environment().items():
        command += ["--setenv", key, value]
    return command + ["--", sys.executable, "-I", "-B", "/sandbox/worker.py", str(fd)]


def _bwrap() -> str | None:
    """bubblewrap's absolute path (the root launcher execs it without a PATH search)."""
    return shutil.which("bwrap")


def _environment() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONDONTWRITEBYTECODE": "1"}


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


class _Cgroup:
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


def _protectable(path: Path) -> bool:
    """A place that can be hidden from student code: not one the runtime or the sandbox needs (``--json /tmp/r.json``)."""
    needed = [Path(p) for p in (*uids.SHARED_WRITABLE, "/proc", "/dev", "/usr", "/etc")] + _runtime_roots() + [INSIDE]
    return not any(path == n or path in n.parents for n in needed)


class _Drain(threading.Thread):
    """Reads a runner's stdout+stderr pipe to the end, keeping the first ``keep`` bytes."""

    def __init__(self, fd: int, keep: int):
        super().__init__(daemon=True)
        self.fd, self.keep, self.kept, self.dropped = fd, keep, bytearray(), 0
        self.start()

    def run(self) -> None:
        with os.fdopen(self.fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                room = self.keep - len(self.kept)
                self.kept += chunk[:room]
                self.dropped += max(0, len(chunk) - room)

    @property
    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        return text + (f"\n[... {self.dropped} more bytes of output not kept]" if self.dropped else "")


class Sandbox:
    """The zygote process and the isolation it runs under.

    As root, nothing of the student's runs as root: bubblewrap itself is started as a dedicated
    unprivileged uid (:mod:`~simgrade.sandbox.inside.uids`), or, without bubblewrap, the zygote
    puts each runner under a dedicated uid of its own. ``protect`` are more places student code
    must not reach (other submissions, the results folder): hidden where a mount namespace can be
    made, and checked from inside every runner before its code runs (the report says what held).
    """

    def __init__(self, limits: Limits = Limits(), isolate: str = "auto", protect: list[Path] = ()):
        self.limits = limits
        self.want = isolate  # "auto": bubblewrap if it works; "bwrap": required; "none": plain process
        self.protect = [str(p.resolve()) for p in map(Path, [*project_secrets(), *protect]) if _protectable(p.resolve())]
        self.process: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.isolation = ""
        self.isolated = False
        self.ready: dict | None = None
        """The zygote's hello, once it has imported torch (None until then, and again after close)."""
        self._why_not = ""
        self._cgroup: _Cgroup | None = None
        self._lease: uids.UidLease | None = None
        self._stderr = None
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start the zygote without waiting for it (it imports torch meanwhile)."""
        if self.process is not None:
            return self
        use_bwrap = self.want != "none" and _bwrap() is not None
        if self.want == "bwrap" and not use_bwrap:
            raise SandboxError("bubblewrap (bwrap) is required but not installed")
        if not use_bwrap and not self._why_not:
            self._why_not = "isolation disabled by request" if self.want == "none" else "bubblewrap (bwrap) is not installed"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._stderr = tempfile.TemporaryFile()
        kwargs: dict = {"pass_fds": (theirs.fileno(),), "stdin": subprocess.DEVNULL,
                        "stdout": self._stderr, "stderr": self._stderr, "env": _environment()}
        if not use_bwrap and os.environ.get("SIMGRADE_SCRATCH"):  # where runners' scratch folders go (run_autograder)
            kwargs["env"]["SIMGRADE_SCRATCH"] = os.environ["SIMGRADE_SCRATCH"]
        root = os.geteuid() == 0
        if use_bwrap:
            if root:
                self._lease = uids.UidLease()
            command = _bwrap_command(theirs.fileno(), NOBODY if root else os.getuid())
        else:
            command = [sys.executable, "-I", "-B", str(INSIDE / "worker.py"), str(theirs.fileno())]
        if root:  # through the launcher: cgroup, a runtime any uid can read, then (bubblewrap) the dedicated uid
            self._cgroup = _Cgroup(self.limits.processes)
            config = {"cgroups": self._cgroup.procs, "reach": [str(r) for r in _runtime_roots()] + [str(INSIDE)],
                      "hide": [] if use_bwrap else self.protect, "uid": self._lease.uid if use_bwrap else None}
            command = [sys.executable, "-I", "-S", "-B", str(INSIDE / "launch.py"), json.dumps(config), *command]
        self.process = subprocess.Popen(command, **kwargs)
        theirs.close()
        self.control = ours
        self.isolated = use_bwrap
        return self

    def wait_ready(self) -> None:
        """Block until the zygote has imported torch; fall back to no isolation if bubblewrap fails (auto)."""
        assert self.control is not None
        self.control.settimeout(READY_SECONDS)
        try:
            raw = self.control.recv(1 << 16)
        except OSError:
            raw = b""
        self.control.settimeout(None)
        if raw:
            self.ready = json.loads(raw)
            memory = self._cgroup.limit_memory(self.limits.memory_bytes) if self._cgroup else None
            self.isolation = self._describe(memory)
            return
        detail = self._startup_error()
        self.close()
        if self.isolated and self.want == "auto":
            self.want = "none"
            self._why_not = f"bubblewrap failed: {detail}"
            self.start()
            return self.wait_ready()
        raise SandboxError(f"the sandbox did not start: {detail}")

    def _describe(self, memory: int | None) -> str:
        """The report's first line: what isolates student code, in this mode, on this machine."""
        limits = (f"{self.limits.processes} processes and {memory / (1 << 30):.1f} GiB for the whole sandbox (cgroup)"
                  if memory else f"{self.limits.memory_bytes / (1 << 30):g} GiB per process (no cgroup)")
        if self.isolated:
            who = (f"a dedicated unprivileged uid ({self._lease.uid}), never root" if self._lease
                   else f"this user (uid {os.getuid()})")
            return (f"isolated: bubblewrap as {who}, no capabilities; each submission in its own user, mount, PID, "
                    f"IPC and network namespaces, with its own /proc, /tmp and /dev/shm; read-only runtime, no project "
                    f"files; {limits}")
        if not self.ready.get("root"):
            return (f"NOT ISOLATED ({self._why_not}): student code ran in a separate process as this user "
                    f"(uid {os.getuid()}), able to read and write what this user can; {limits}")
        if not self.ready.get("runtime_public"):
            return (f"NOT ISOLATED ({self._why_not}), and student code was NOT RUN: the grader is root and this Python "
                    "installation is not readable by an unprivileged user")
        return (f"NOT ISOLATED ({self._why_not}): student code ran in a separate process as a dedicated unprivileged "
                f"uid (never root), every process and file of that uid removed before results were written; {limits}")

    def _startup_error(self) -> str:
        if self._stderr is None:
            return "no output"
        self._stderr.seek(0)
        lines = self._stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
        lines = [line for line in lines if not line.startswith("simgrade-launch: view:")]
        return lines[-1] if lines else "no output"

    def close(self) -> None:
        """Stop the zygote (and, with it, every runner it forked); as root, nothing of the sandbox's uid survives.

        ``start()`` after ``close()`` brings up a fresh zygote, as the grader does when one stops answering.
        """
        self.ready = None
        if self.control is not None:
            try:
                self.control.send(b'{"op": "exit"}')
            except OSError:
                pass
            self.control.close()
            self.control = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- runners ------------------------------------------------------------------------------
    def _request(self, message: dict, fds: list[int] = ()) -> dict:
        with self._lock:
            if self.control is None:
                raise SandboxError("the sandbox is not running")
            if self.ready is None:
                self.wait_ready()
            try:
                socket.send_fds(self.control, [json.dumps(message).encode()], list(fds))
                raw = self.control.recv(1 << 16)
            except OSError as error:
                raise SandboxError(f"the sandbox stopped answering: {error}") from None
            if not raw:
                raise SandboxError("the sandbox stopped answering")
            return json.loads(raw)

    def spawn(self) -> tuple[int, socket.socket, _Drain]:
        """Fork a fresh runner: its pid (in the zygote's namespace), data socket, and output drain."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        try:
            reply = self._request({"op": "spawn", "limits": self.limits.for_runner(), "protect": self.protect},
                                  [theirs.fileno(), out_w])
        finally:
            theirs.close()
            os.close(out_w)
        return int(reply["pid"]), ours, _Drain(out_r, self.limits.output_bytes)

    def kill(self, pid: int) -> None:
        """Kill a runner and everything it started."""
        try:
            self._request({"op": "kill", "pid": pid})
        except SandboxError:
            pass


_REPLY_TYPES = {"status": str, "kind": str, "type": str, "dtype": str, "error": str, "error_type": str,
                "backward_error": str, "subclass": bool, "requires_grad": bool, "repeat": bool, "ok": bool,
                "isolated": bool, "private_tmp": bool, "pid": int, "uid": int}
_REPLY_LISTS = {"shape": int, "no_grad": str, "changed_inputs": str, "where": str, "notes": str, "missing": str,
                "exposed": str}


def plain_reply(reply: dict) -> dict:
    """A runner's reply with only the known fields, each of its type; the rest is dropped.

    The runner is the student's process: it can write any frame on its socket, so a reply is
    untrusted data. Strings are cut to 600 characters and lists to 200 items.
    """
    clean: dict = {}
    for key, kind in _REPLY_TYPES.items():
        value = reply.get(key)
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            clean[key] = value[:600] if isinstance(value, str) else value
    for key, kind in _REPLY_LISTS.items():
        value = reply.get(key)
        if isinstance(value, list) and all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            clean[key] = [v[:600] if isinstance(v, str) else v for v in value[:200]]
    found = reply.get("found")
    if isinstance(found, dict):
        clean["found"] = {str(k)[:100]: v for k, v in list(found.items())[:20] if isinstance(v, bool)}
    return clean


class Session:
    """One submission's runner: loads its programs once, then answers calls; survives time-outs and crashes.

    ``call`` never raises for anything the student's code does: it returns a reply whose
    ``status`` is ``ok``, ``error`` (the function raised), ``missing`` (not defined), ``timeout``,
    ``crashed`` (the runner died) or ``load_failed``.
    """

    def __init__(self, sandbox: Sandbox, programs: list[dict], files: dict[str, bytes]):
        self.sandbox = sandbox
        self.programs = programs
        self.files = files
        self.load_reply: dict | None = None
        self.pid: int | None = None
        self.data: socket.socket | None = None
        self.drain: _Drain | None = None
        self.timed_out: set[str] = set()
        self.crashes: dict[str, int] = {}
        self.events: list[str] = []
        self.kept_bytes = 0
        self._outputs: list[str] = []

    def _start(self) -> dict:
        self.pid, self.data, self.drain = self.sandbox.spawn()
        import numpy as np

        arrays = {f"file{i}": np.frombuffer(content, dtype=np.uint8) for i, content in enumerate(self.files.values())}
        deadline = time.monotonic() + self.sandbox.limits.load_seconds
        try:
            protocol.send(self.data, {"op": "load", "files": list(self.files), "programs": self.programs}, arrays)
            reply, _ = protocol.receive(self.data, deadline)
            reply = plain_reply(reply)
        except TimeoutError:
            self._stop()
            self.events.append(f"loading the submission took over {self.sandbox.limits.load_seconds:g} s; stopped")
            return {"ok": False, "status": "load_failed", "error": "loading timed out"}
        except (protocol.ProtocolError, OSError) as error:
            self._stop()
            return {"ok": False, "status": "load_failed", "error": f"the submission's code ended the process while loading ({error})"}
        if self.load_reply is None:
            self.load_reply = reply
            self._note_protections(reply)
        return reply

    def _note_protections(self, reply: dict) -> None:
        """One line for what did not hold around this runner (measured inside it, before its code ran)."""
        gaps = [f"no {m}" for m in reply.get("missing", [])] + [f"could {e}" for e in reply.get("exposed", [])]
        if gaps:
            self.events.append("protections missing for this submission's code: " + "; ".join(gaps))

    def _keep(self, arrays: dict) -> dict:
        """The reply's numeric arrays of a plausible size; past the session's budget the runner is stopped."""
        kept = {name: a for name, a in arrays.items() if a.dtype.kind in "fiub" and a.size <= MAX_ARRAY_ELEMENTS}
        self.kept_bytes += sum(a.nbytes for a in kept.values())
        if self.kept_bytes > MAX_KEPT_BYTES:
            raise protocol.ProtocolError(f"its replies passed {MAX_KEPT_BYTES >> 20} MiB")
        return kept

    def _stop(self) -> None:
        if self.pid is not None:
            self.sandbox.kill(self.pid)
        if self.data is not None:
            self.data.close()
        if self.drain is not None:
            self.drain.join(timeout=2)
            self._outputs.append(self.drain.text)
        self.pid = self.data = self.drain = None

    def _blocked(self, function: str) -> dict | None:
        if self.load_reply is not None and self.load_reply.get("status") == "load_failed":
            return {"status": "load_failed", "error": self.load_reply.get("error", "")}
        if function in self.timed_out:
            return {"status": "timeout", "repeat": True}
        if self.crashes.get(function, 0) >= MAX_CRASHES:
            return {"status": "crashed", "repeat": True}
        if self.data is None:
            reply = self._start()
            if not reply.get("ok"):
                self.load_reply = reply
                return {"status": "load_failed", "error": reply.get("error", "")}
        return None

    def call(self, function: str, message: dict, arrays: dict) -> tuple[dict, dict]:
        """Call ``function`` in the runner on the grader's inputs; the reply is plain data."""
        return self.call_many(function, [(message, arrays)])[0]

    def call_many(self, function: str, requests: list[tuple[dict, dict]],
                  overlap: Callable[[], object] | None = None) -> list[tuple[dict, dict]]:
        """Call ``function`` on each request, in order; replies are plain data.

        The requests stream to the runner from a thread while ``overlap()`` — the grader's own
        work on the same inputs — runs here, so the two sides compute at the same time. Each reply
        must come within the per-call time limit of the one before.
        """
        blocked = self._blocked(function)
        if blocked is not None:
            if overlap is not None:
                overlap()
            return [(blocked, {})] * len(requests)
        channel = self.data

        def send_all() -> None:
            try:
                for message, arrays in requests:
                    protocol.send(channel, {"op": "call", "function": function, **message}, arrays)
            except OSError:
                pass  # the runner is gone; the receiving side reports why

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        if overlap is not None:
            overlap()
        replies: list[tuple[dict, dict]] = []
        limit = self.sandbox.limits.call_seconds
        while len(replies) < len(requests):
            try:
                reply, arrays = protocol.receive(channel, time.monotonic() + limit)
                replies.append((plain_reply(reply), self._keep(arrays)))
            except TimeoutError:
                self.timed_out.add(function)
                self._stop()
                self.events.append(f"{function} ran over its {limit:g} s time limit; stopped")
                replies += [({"status": "timeout"}, {})] * (len(requests) - len(replies))
            except (protocol.ProtocolError, OSError) as error:
                self.crashes[function] = self.crashes.get(function, 0) + 1
                self._stop()
                self.events.append(f"{function} ended the process ({error})")
                replies += [({"status": "crashed", "error": str(error)}, {})] * (len(requests) - len(replies))
        sender.join()
        return replies

    @property
    def output(self) -> str:
        """What the student's code printed (truncated)."""
        live = [self.drain.text] if self.drain is not None else []
        return "".join(self._outputs + live)

    def close(self) -> None:
        """Hang up; the runner exits (or is killed)."""
        self._stop()
