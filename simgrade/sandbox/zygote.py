"""The zygote: one process per grader that imported torch once and forks a runner per submission.

:class:`Sandbox` starts it under bubblewrap (``bwrap.py``) or, where that is unavailable, as a plain
child process; as root, through ``inside/launch.py`` (a cgroup, a runtime any uid can read, the
dedicated uid). :attr:`Sandbox.isolation` says in one line what holds.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from simgrade.sandbox.bwrap import INSIDE, bwrap, bwrap_command, environment, project_secrets, runtime_roots
from simgrade.sandbox.cgroup import Cgroup
from simgrade.sandbox.inside import uids
from simgrade.sandbox.limits import Limits

NOBODY = 65534
READY_SECONDS = 120.0


class SandboxError(Exception):
    """The sandbox itself could not be started or stopped answering."""


def _protectable(path: Path) -> bool:
    """A place that can be hidden from student code: not one the runtime or the sandbox needs (``--json /tmp/r.json``)."""
    needed = [Path(p) for p in (*uids.SHARED_WRITABLE, "/proc", "/dev", "/usr", "/etc")] + runtime_roots() + [INSIDE]
    return not any(path == n or path in n.parents for n in needed)


class OutputDrain(threading.Thread):
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
        self._cgroup: Cgroup | None = None
        self._lease: uids.UidLease | None = None
        self._stderr = None
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "Sandbox":
        """Start the zygote without waiting for it (it imports torch meanwhile)."""
        if self.process is not None:
            return self
        use_bwrap = self.want != "none" and bwrap() is not None
        if self.want == "bwrap" and not use_bwrap:
            raise SandboxError("bubblewrap (bwrap) is required but not installed")
        if not use_bwrap and not self._why_not:
            self._why_not = "isolation disabled by request" if self.want == "none" else "bubblewrap (bwrap) is not installed"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._stderr = tempfile.TemporaryFile()
        kwargs: dict = {"pass_fds": (theirs.fileno(),), "stdin": subprocess.DEVNULL,
                        "stdout": self._stderr, "stderr": self._stderr, "env": environment()}
        if not use_bwrap and os.environ.get("SIMGRADE_SCRATCH"):  # where runners' scratch folders go (run_autograder)
            kwargs["env"]["SIMGRADE_SCRATCH"] = os.environ["SIMGRADE_SCRATCH"]
        root = os.geteuid() == 0
        if use_bwrap:
            if root:
                self._lease = uids.UidLease()
            command = bwrap_command(theirs.fileno(), NOBODY if root else os.getuid())
        else:
            command = [sys.executable, "-I", "-B", str(INSIDE / "worker.py"), str(theirs.fileno())]
        if root:  # through the launcher: cgroup, a runtime any uid can read, then (bubblewrap) the dedicated uid
            self._cgroup = Cgroup(self.limits.processes)
            config = {"cgroups": self._cgroup.procs, "reach": [str(r) for r in runtime_roots()] + [str(INSIDE)],
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

    def spawn(self) -> tuple[int, socket.socket, OutputDrain]:
        """Fork a fresh runner: its pid (in the zygote's namespace), data socket, and output drain."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_r, out_w = os.pipe()
        try:
            reply = self._request({"op": "spawn", "limits": self.limits.for_runner(), "protect": self.protect},
                                  [theirs.fileno(), out_w])
        finally:
            theirs.close()
            os.close(out_w)
        return int(reply["pid"]), ours, OutputDrain(out_r, self.limits.output_bytes)

    def kill(self, pid: int) -> None:
        """Kill a runner and everything it started."""
        try:
            self._request({"op": "kill", "pid": pid})
        except SandboxError:
            pass
