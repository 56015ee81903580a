"""One submission's runner: load its program once, call its functions, keep only plain data from its replies."""
from __future__ import annotations

import socket
import threading
import time
from typing import Callable

from simgrade.sandbox.inside import protocol
from simgrade.sandbox.zygote import OutputDrain, Sandbox

MAX_CRASHES = 3
MAX_KEPT_BYTES = 64 << 20
"""Array bytes a session keeps from the student's replies, all calls together; past it the runner is stopped."""
MAX_ARRAY_ELEMENTS = 1 << 16
"""Largest array kept from one reply (a loss is one number; gradients are the small probe networks')."""


_REPLY_TYPES = {"status": str, "kind": str, "type": str, "dtype": str, "error": str, "error_type": str,
                "backward_error": str, "subclass": bool, "requires_grad": bool, "repeat": bool, "ok": bool,
                "isolated": bool, "private_tmp": bool, "pid": int, "uid": int,
                "raised_by_submission": bool, "inside": str}
_REPLY_LISTS = {"shape": int, "no_grad": str, "changed_inputs": str, "notes": str, "missing": str, "exposed": str}


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
    frames = reply.get("frames")  # where an error happened: [program, chunk, line] numbers (simgrade/discover/where.py)
    if isinstance(frames, list):
        clean["frames"] = [f for f in frames[:3] if isinstance(f, list) and len(f) == 3 and all(type(n) is int for n in f)]
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
        self.drain: OutputDrain | None = None
        self.timed_out: set[str] = set()
        self.crashes: dict[str, int] = {}
        self.events: list[str] = []
        self.kept_bytes = 0
        self._outputs: list[str] = []
        self._dropped = 0

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
            self._dropped += self.drain.dropped
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

    @property
    def output_dropped(self) -> int:
        """Bytes the student's code printed past what was kept."""
        return self._dropped + (self.drain.dropped if self.drain is not None else 0)

    def close(self) -> None:
        """Hang up; the runner exits (or is killed)."""
        self._stop()
