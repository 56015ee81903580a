"""The sandbox side: a zygote that imported torch once and forks one runner per submission.

Runs inside bubblewrap (or, where that is unavailable, as a plain child process). It sees the
Python runtime, this folder, and nothing of the project: no reference losses, no answer key.

    zygote   waits on the control socket (SOCK_SEQPACKET): spawn a runner, kill a runner, exit
    runner   forked per submission; in its own user, mount and PID namespaces when the kernel
             allows (so every process it starts dies with it), with rlimits and a private tmpfs;
             loads the student's program and answers calls on its data socket

Student code runs only in runners. What goes back is plain data: JSON numbers and npy arrays.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import resource
import shutil
import signal
import socket
import sys
import traceback
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional  # noqa: E402,F401  (imported once here, before any fork)
from torch.overrides import TorchFunctionMode  # noqa: E402

import probe_models  # noqa: E402
import protocol  # noqa: E402

for optional in ("einops", "torch.nn"):  # what students import; a missing one is their ImportError later
    try:
        __import__(optional)
    except ImportError:
        pass

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x10000000, 0x20000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
LIBC = ctypes.CDLL(None, use_errno=True)
NOBODY = 65534
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_BIND, MS_RELATIME = 1, 2, 4, 8, 32, 1024, 4096, 1 << 21
MAX_VALUE_ELEMENTS = 1 << 16
# What the runner uses to look at the student's effects, taken before any student code runs (which may patch torch).
_EQUAL = torch.equal
_CLONE = torch.Tensor.clone
_VERSION = torch._C.TensorBase._version.__get__
MAX_TEXT = 600


# ------------------------------------------------------------------------------------------ runner
def _private_namespaces() -> bool:
    """Enter new user, mount and PID namespaces (the runner is single-threaded right after fork)."""
    uid, gid = os.getuid(), os.getgid()
    if LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) != 0:
        return False
    for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
                       ("/proc/self/gid_map", f"{gid} {gid} 1")):
        with open(path, "w") as f:
            f.write(text)
    return True


def _mount_private(scratch: str, size_bytes: int) -> bool:
    """A tmpfs of its own on ``scratch``; the rest of /tmp (shared with later runners) becomes read-only."""
    options = f"size={size_bytes},mode=0755".encode()
    if LIBC.mount(b"tmpfs", scratch.encode(), b"tmpfs", 0, options) != 0:
        return False
    kept = os.statvfs("/tmp").f_flag  # nosuid, nodev, noexec, atime flags are locked: a remount must keep them
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY | (kept & (MS_NOSUID | MS_NODEV | MS_NOEXEC))
    flags |= (MS_RELATIME if kept & os.ST_RELATIME else 0) | (MS_NOATIME if kept & os.ST_NOATIME else 0)
    LIBC.mount(None, b"/tmp", None, flags, None)
    return True


def _reachable_by_anyone(path: str) -> bool:
    """Every directory from / down to ``path`` lets other users in (o+x): an unprivileged uid can import from it."""
    path = os.path.realpath(path)
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        if path == "/":
            return True
        path = os.path.dirname(path)


RUNTIME_PUBLIC = all(_reachable_by_anyone(p) for p in (sys.prefix, sys.base_prefix, os.path.dirname(torch.__file__)))
"""Whether student code can run as nobody and still import from this Python installation (e.g. not under /root)."""


def _drop_capabilities() -> None:
    """Give up the capabilities the new user namespace granted (capset with empty sets)."""
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    LIBC.capset(header, data)


def _apply_limits(limits: dict) -> None:
    vm_kib = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0])
    address_space = vm_kib * 1024 + int(limits["memory_bytes"])
    table = {
        resource.RLIMIT_AS: address_space,
        resource.RLIMIT_CPU: int(limits["cpu_seconds"]),
        resource.RLIMIT_FSIZE: int(limits["file_bytes"]),
        resource.RLIMIT_NOFILE: int(limits["open_files"]),
        resource.RLIMIT_NPROC: int(limits["processes"]),
        resource.RLIMIT_CORE: 0,
    }
    for which, value in table.items():
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass  # e.g. a hard limit already lower: keep it


def start_runner(data: socket.socket, output_fd: int, limits: dict, scratch: str) -> None:
    """In the forked child: isolate, limit, then serve the grader until it hangs up. Never returns.

    ``scratch`` is the runner's only writable directory: a private tmpfs when namespaces work.
    """
    if os.geteuid() == 0 and RUNTIME_PUBLIC:  # no bubblewrap, run as root: student code runs as nobody
        os.chown(scratch, NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        LIBC.prctl(PR_SET_DUMPABLE, 1)  # else /proc/self stays root's and the uid map below can't be written
    isolated = _private_namespaces()
    if isolated:
        init = os.fork()  # the first child in the new PID namespace is its init
        if init:
            _, status = os.waitpid(init, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # our parent killed -> we die -> the namespace dies
        private_tmp = _mount_private(scratch, int(limits["tmp_bytes"]))
        _drop_capabilities()
    else:
        os.setsid()  # at least a process group the zygote can kill
        private_tmp = False
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)
    os.close(output_fd)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(write_through=True, line_buffering=True)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    _apply_limits(limits)
    Runner(data, scratch, isolated=isolated, private_tmp=private_tmp).serve()
    os._exit(0)


def _short(text: str) -> str:
    text = str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " ..."


def _describe(error: BaseException, origins: tuple[str, ...]) -> dict:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename in origins]
    where = [f"{f.filename}:{f.lineno}: {(f.line or '').strip()}" for f in frames[-3:]]
    return {"error": _short(f"{type(error).__name__}: {error}"), "error_type": type(error).__name__, "where": where}


def _is_cuda(device) -> bool:
    try:
        return torch.device(device).type == "cuda"
    except (TypeError, RuntimeError):
        return False


class _CudaMeansCpu(TorchFunctionMode):
    """Notebooks write ``.cuda()``, ``.to('cuda')``, ``device='cuda'``: on a grader without a GPU, that means stay here."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if _is_cuda(kwargs.get("device")):
            kwargs["device"] = "cpu"
        if func is torch.Tensor.cuda:
            return args[0]
        if func is torch.Tensor.to:
            args = tuple("cpu" if isinstance(a, (str, torch.device)) and _is_cuda(a) else a for a in args)
        return func(*args, **kwargs)


def _on_this_device():
    """The context student code runs in: CUDA requests land on the CPU when there is no GPU."""
    return contextlib.nullcontext() if torch.cuda.is_available() else _CudaMeansCpu()


def _plain_tensor(value: torch.Tensor) -> torch.Tensor:
    with torch._C.DisableTorchFunction():
        return torch.Tensor.as_subclass(value, torch.Tensor)


class Runner:
    """Serves one submission: ``load`` its program, then ``call`` its functions on the grader's inputs."""

    def __init__(self, data: socket.socket, scratch: str, isolated: bool, private_tmp: bool):
        self.data = data
        self.scratch = scratch
        self.namespace: dict = {}
        self.origins: tuple[str, ...] = ()
        self.isolated = isolated
        self.private_tmp = private_tmp

    def serve(self) -> None:
        while True:
            try:
                message, arrays = protocol.receive(self.data)
            except (protocol.ProtocolError, OSError):
                return
            op = message.get("op")
            if op == "load":
                reply, out = self.load(message, arrays), {}
            elif op == "call":
                reply, out = self.call(message, arrays)
            else:
                return
            protocol.send(self.data, reply, out)

    def load(self, message: dict, arrays: dict) -> dict:
        root = os.path.join(self.scratch, "submission")
        os.environ["TMPDIR"] = os.environ["HOME"] = self.scratch
        for index, relative in enumerate(message["files"]):
            parts = [p for p in str(relative).split("/") if p not in ("", ".", "..")]
            path = os.path.join(root, *parts)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(arrays[f"file{index}"].tobytes())
        os.makedirs(root, exist_ok=True)
        os.chdir(root)
        sys.path.insert(0, root)
        notes = []
        for program in message["programs"]:
            origin = os.path.join(root, program["origin"])
            self.origins += (origin,)
            module = types.ModuleType("submission")
            module.__file__ = origin
            module.__dict__["device"] = torch.device("cpu")
            for chunk in program["chunks"]:
                try:
                    with _on_this_device():
                        exec(compile(chunk["source"], origin, "exec"), module.__dict__)  # inside the sandbox only
                except BaseException as error:  # noqa: BLE001 - SystemExit too: a chunk that fails is skipped
                    notes.append(f"skipped {chunk['label']}: {_describe(error, self.origins)['error']}")
            self.namespace[program["function"]] = module.__dict__.get(program["function"])
        return {"ok": True, "notes": notes, "isolated": self.isolated, "private_tmp": self.private_tmp,
                "found": {name: callable(fn) for name, fn in self.namespace.items()}}

    def call(self, message: dict, arrays: dict) -> tuple[dict, dict]:
        function = self.namespace.get(message["function"])
        if not callable(function):
            return {"status": "missing"}, {}
        dtype = {"float32": torch.float32, "float64": torch.float64}[message["dtype"]]
        modules = {"enc": probe_models.build_encoder(message["enc"], arrays, dtype)}
        if "dec" in message:
            modules["dec"] = probe_models.build_decoder(message["dec"], arrays, dtype)
        inputs = {name: torch.from_numpy(np.array(arrays[name])).to(dtype) for name in message["inputs"]}
        params = {f"{m}.{n}": p for m, mod in modules.items() for n, p in mod.named_parameters()}
        snapshot = {name: _CLONE(t).detach() for name, t in {**inputs, **params}.items()}
        versions = {name: _VERSION(t) for name, t in {**inputs, **params}.items()}  # bumped by any in-place op
        args = [modules[name] if name in modules else inputs.get(name) for name in message["arguments"]]
        if "tau" in message:
            args = [message["tau"] if name == "tau" else a for name, a in zip(message["arguments"], args)]
        torch.default_generator.manual_seed(0)  # a student's randomness is the same on every run: grades are deterministic
        np.random.seed(0)
        random.seed(0)
        try:
            with _on_this_device():
                result = function(*args)
        except BaseException as error:  # noqa: BLE001 - the student's failure is an observation
            return {"status": "error", **_describe(error, self.origins)}, {}
        reply, out = self.observe(result, modules)
        changed = [name for name, t in {**inputs, **params}.items()
                   if _VERSION(t) != versions[name] or not _EQUAL(_plain_tensor(t).detach(), snapshot[name])]
        reply["changed_inputs"] = changed
        return reply, out

    def observe(self, result, modules: dict) -> tuple[dict, dict]:
        if isinstance(result, (np.ndarray, np.generic)) and result.dtype.kind in "fiu" and result.size <= MAX_VALUE_ELEMENTS:
            # the right number in the wrong type still shows its value (the form property says what is wrong)
            return {"status": "ok", "kind": "other", "type": type(result).__qualname__[:80]}, {
                "value": np.array(result, dtype=np.float64)}
        if isinstance(result, bool) or not isinstance(result, (torch.Tensor, int, float)):
            return {"status": "ok", "kind": "other", "type": type(result).__qualname__[:80]}, {}
        if not isinstance(result, torch.Tensor):
            return {"status": "ok", "kind": "number", "type": type(result).__name__}, {"value": np.array(float(result))}
        tensor = _plain_tensor(result)
        reply = {"status": "ok", "kind": "tensor", "type": type(result).__qualname__[:80],
                 "subclass": type(result) is not torch.Tensor and type(result) is not torch.nn.Parameter,
                 "shape": list(tensor.shape), "dtype": str(tensor.dtype).replace("torch.", ""),
                 "requires_grad": bool(tensor.requires_grad)}
        out = {}
        if tensor.numel() <= MAX_VALUE_ELEMENTS and (tensor.is_floating_point() or not tensor.is_complex()):
            out["value"] = tensor.detach().to("cpu", torch.float64).numpy()
        if tensor.requires_grad and tensor.numel() == 1:
            named = [(f"{m}.{n}", p) for m, mod in modules.items() for n, p in mod.named_parameters()]
            try:
                grads = torch.autograd.grad(tensor.reshape(()), [p for _, p in named], allow_unused=True)
            except BaseException as error:  # noqa: BLE001
                reply["backward_error"] = _describe(error, self.origins)["error"]
            else:
                reply["no_grad"] = [name for (name, _), g in zip(named, grads) if g is None]
                out.update({f"grad:{name}": g.detach().to(torch.float64).numpy()
                            for (name, _), g in zip(named, grads) if g is not None})
        return reply, out


# ------------------------------------------------------------------------------------------ zygote
def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def zygote(control: socket.socket) -> None:
    """Fork runners on request until the grader says exit or hangs up."""
    torch.set_num_threads(1)
    vm_kib = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0])
    runner_uid = NOBODY if os.geteuid() == 0 and RUNTIME_PUBLIC else os.geteuid()
    control.send(json.dumps({"ready": True, "vm_kib": vm_kib, "uid": os.getuid(), "runner_uid": runner_uid}).encode())
    scratches: dict[int, str] = {}
    while True:
        try:
            raw, fds, _, _ = socket.recv_fds(control, 1 << 16, 4)
        except OSError:
            return
        if not raw:
            return
        request = json.loads(raw)
        if request["op"] == "spawn":
            scratch = f"/tmp/simgrade-runner-{os.getpid()}-{len(scratches)}"
            os.mkdir(scratch, 0o700)
            pid = os.fork()
            if pid == 0:
                control.close()
                data = socket.socket(fileno=fds[0])
                start_runner(data, fds[1], request["limits"], scratch)
            scratches[pid] = scratch
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"pid": pid}).encode())
        elif request["op"] == "kill":
            pid = int(request["pid"])
            for kill in (os.kill, os.killpg):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            shutil.rmtree(scratches.pop(pid, ""), ignore_errors=True)  # a plain directory when namespaces failed
            control.send(b'{"killed": true}')
        else:
            return
        _reap()


if __name__ == "__main__":
    zygote(socket.socket(fileno=int(sys.argv[1])))
    os._exit(0)  # skip interpreter teardown (torch's takes a second); runners are gone with the namespace
