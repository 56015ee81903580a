"""The sandbox's limits, one table (defaults; every one can be changed per run).

| limit                   | default  | how it is enforced                                                      |
|-------------------------|----------|-------------------------------------------------------------------------|
| wall time per call      | 20 s     | the grader stops waiting and kills the runner (and its PID namespace)   |
| wall time to load       | 20 s     | the same, for executing the submission's imports and definitions        |
| CPU time per runner     | 120 s    | RLIMIT_CPU                                                              |
| memory                  | 4 GiB    | as root: a memory cgroup over the whole sandbox (zygote's use + 4 GiB); |
|                         |          | always: RLIMIT_AS, 4 GiB of address space per process beyond the runtime|
| processes and threads   | 256      | RLIMIT_NPROC (binds: student code never runs as root); as root also a   |
|                         |          | pids cgroup over the whole sandbox                                      |
| file size               | 16 MiB   | RLIMIT_FSIZE                                                            |
| open files              | 128      | RLIMIT_NOFILE                                                           |
| writable disk           | 64 MiB   | a private tmpfs on the runner's /tmp scratch (its own mount namespace); |
|                         | + 16 MiB | a private tmpfs on /dev/shm; /tmp's rest and /dev read-only             |
| captured output         | 16 KiB   | stdout+stderr drained from a pipe; the rest is counted, not kept        |
| replies kept            | 64 MiB   | numeric arrays of at most 65,536 elements; past the budget, stopped     |
| network                 | none     | a network namespace (bubblewrap's, and one more per runner)             |
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
    shm_bytes: int = 16 << 20
    """Size of the private /dev/shm."""
    output_bytes: int = 16 << 10
    """Captured stdout and stderr kept per runner."""

    def for_runner(self) -> dict:
        """The limits the runner applies to itself, as JSON."""
        return {k: v for k, v in asdict(self).items() if k not in ("call_seconds", "load_seconds", "output_bytes")}
