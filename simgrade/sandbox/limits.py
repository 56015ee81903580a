"""The sandbox's limits, one table (defaults; every one can be changed per run).

| limit                   | default  | how it is enforced                                                      |
|-------------------------|----------|-------------------------------------------------------------------------|
| wall time per call      | 20 s     | the grader stops waiting and kills the runner (and its PID namespace)   |
| wall time to load       | 20 s     | the same, for executing the submission's imports and definitions        |
| CPU time per runner     | 120 s    | RLIMIT_CPU                                                              |
| memory                  | 4 GiB    | RLIMIT_AS: 4 GiB of address space beyond the runtime already mapped     |
| processes and threads   | 256      | RLIMIT_NPROC as an unprivileged uid; a pids cgroup when run as root     |
| file size               | 16 MiB   | RLIMIT_FSIZE                                                            |
| open files              | 128      | RLIMIT_NOFILE                                                           |
| writable disk           | 64 MiB   | a private tmpfs on /tmp per runner (its own mount namespace)           |
| captured output         | 16 KiB   | stdout+stderr drained from a pipe; the rest is counted, not kept        |
| network                 | none     | bubblewrap's own network namespace                                      |
| visible files           | runtime  | read-only: /usr, /etc, the Python installation; nothing of the project  |
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    """Resource limits for student code (see the table above)."""

    call_seconds: float = 20.0
    """Wall time for one call of a student function."""
    load_seconds: float = 20.0
    """Wall time for loading the submission's program."""
    cpu_seconds: int = 120
    """CPU seconds for a runner, all its calls together."""
    memory_bytes: int = 4 << 30
    """Address space a runner may add to what the runtime already mapped."""
    processes: int = 256
    """Processes and threads."""
    file_bytes: int = 16 << 20
    """Largest file a runner may write."""
    open_files: int = 128
    """Open file descriptors."""
    tmp_bytes: int = 64 << 20
    """Size of the private /tmp."""
    output_bytes: int = 16 << 10
    """Captured stdout and stderr kept per runner."""

    def for_runner(self) -> dict:
        """The limits the runner applies to itself, as JSON."""
        return {k: v for k, v in asdict(self).items() if k not in ("call_seconds", "load_seconds", "output_bytes")}
