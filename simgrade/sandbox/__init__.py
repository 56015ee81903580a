"""Run student code in a sandbox; only plain data comes back.

One :class:`Sandbox` per grading process: it starts a zygote (``inside/worker.py``) under
bubblewrap, which imports torch once while the grader does its own work. Each submission gets a
:class:`Session`: a runner forked from the zygote, in its own namespaces, with the limits of
:mod:`simgrade.sandbox.limits`, holding a private copy of the submission. Where bubblewrap or user
namespaces are unavailable, the zygote runs as a plain child process and :attr:`Sandbox.isolation`
says so plainly.
"""
from __future__ import annotations

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
from simgrade.sandbox.inside import protocol
from simgrade.sandbox.limits import Limits

INSIDE = Path(__file__).resolve().parent / "inside"
NOBODY = 65534
READY_SECONDS = 120.0
MAX_CRASHES = 3


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
    import checks
    import reference
    import simgrade

    project = [PROJECT_ROOT, Path(simgrade.__file__).parent, Path(reference.__file__).parent,
               Path(checks.__file__).parent, PROJECT_ROOT / "answers"]
    return sorted({p.resolve() for p in project if any(r == p or r in p.parents for r in roots)})


def _bwrap_command(fd: int, uid: int) -> list[str]:
    roots = _runtime_roots()
    command = ["bwrap", "--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net",
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


def _environment() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
            "PYTHONDONTWRITEBYTECODE": "1"}


class _ProcessCgroup:
    """A pids cgroup capping the sandbox's processes when the grader runs as root (RLIMIT_NPROC does not bind root)."""

    def __init__(self, limit: int):
        self.path: Path | None = None
        for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
            if (base / "pids.max").exists() or (base / "cgroup.procs").exists() and base.name == "pids":
                self._sweep(base)
                candidate = base / f"simgrade-{os.getpid()}-{id(self)}"
                try:
                    candidate.mkdir()
                    (candidate / "pids.max").write_text(str(limit))
                except OSError:
                    continue
                self.path = candidate
                return

    def enter(self) -> None:
        """Called in the child before exec: move it into the cgroup."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    @staticmethod
    def _sweep(base: Path) -> None:
        """Remove the empty cgroups of graders that are gone (one killed before it could clean up)."""
        for stale in base.glob("simgrade-*-*"):
            owner = stale.name.split("-")[1]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                try:
                    stale.rmdir()
                except OSError:
                    pass

    def remove(self) -> None:
        """Delete the cgroup once its last process has gone (the kernel refuses while any remain)."""
        if self.path is None:
            return
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.01)


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
    """The zygote process and the isolation it runs under."""

    def __init__(self, limits: Limits = Limits(), isolate: str = "auto"):
        self.limits = limits
        self.want = isolate  # "auto": bubblewrap if it works; "bwrap": required; "none": plain process
        self.process: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.isolation = ""
        self.isolated = False
        self._cgroup: _ProcessCgroup | None = None
        self._stderr = None
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start the zygote without waiting for it (it imports torch meanwhile)."""
        if self.process is not None:
            return self
        use_bwrap = self.want != "none" and shutil.which("bwrap") is not None
        if self.want == "bwrap" and not use_bwrap:
            raise SandboxError("bubblewrap (bwrap) is required but not installed")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._stderr = tempfile.TemporaryFile()
        kwargs: dict = {"pass_fds": (theirs.fileno(),), "stdin": subprocess.DEVNULL,
                        "stdout": self._stderr, "stderr": self._stderr}
        if use_bwrap:
            root = os.geteuid() == 0
            uid = NOBODY if root else os.getuid()
            command = _bwrap_command(theirs.fileno(), uid)
            if root:
                self._cgroup = _ProcessCgroup(self.limits.processes)
                kwargs["preexec_fn"] = self._cgroup.enter
            self.isolation = ("isolated: bubblewrap (user, mount, PID, network, IPC namespaces; read-only runtime, "
                              f"no project files) as uid {uid}; per-submission PID and mount namespaces")
        else:
            command = [sys.executable, "-I", "-B", str(INSIDE / "worker.py"), str(theirs.fileno())]
            kwargs["env"] = _environment()
            reason = "isolation disabled by request" if self.want == "none" else "bubblewrap (bwrap) is not installed"
            self.isolation = (f"NOT ISOLATED: {reason}; student code ran in a separate process with resource "
                              "limits only, able to read this machine's files")
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
            if not self.isolated:
                uid = self.ready.get("runner_uid")
                self.isolation += (" as root (this Python installation is not readable by an unprivileged user), "
                                   "so it could also change them" if uid == 0 else f" as uid {uid}")
            return
        detail = self._startup_error()
        self.close()
        if self.isolated and self.want == "auto":
            self.want = "none"
            self.start()
            self.isolation += f" (bubblewrap failed: {detail})"
            return self.wait_ready()
        raise SandboxError(f"the sandbox did not start: {detail}")

    def _startup_error(self) -> str:
        if self._stderr is None:
            return "no output"
        self._stderr.seek(0)
        lines = self._stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else "no output"

    def close(self) -> None:
        """Stop the zygote (and, with it, every runner it forked)."""
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
            if not hasattr(self, "ready"):
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
            reply = self._request({"op": "spawn", "limits": self.limits.for_runner()}, [theirs.fileno(), out_w])
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
                "isolated": bool, "private_tmp": bool, "pid": int}
_REPLY_LISTS = {"shape": int, "no_grad": str, "changed_inputs": str, "where": str, "notes": str}


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
        return reply

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
                replies.append((plain_reply(reply), arrays))
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
