"""``grader.py --batch DIR --out OUT``: grade a whole class.

Every sub-folder of DIR (sorted by name; hidden folders, ``__MACOSX`` and OUT itself left out) is
one submission, graded exactly as ``grader.py FOLDER --json`` would grade it: the same
:func:`simgrade.grade.grade`, the same sandbox, the same limits. Results:

    OUT/<folder>.json   Gradescope results.json (CONTRACT.md's schema), written atomically
    OUT/grades.csv      name,total,<one column per question id>; rebuilt at the end from every
                        JSON present for DIR's folders, so a resumed run's table is complete
    OUT/report.html     the class report (simgrade.classreport)

Parallelism: ``jobs`` worker processes, started from a ``forkserver`` that has imported the
grader (and torch) once; forking it is safe because it never ran a torch operation (no OpenMP
pool yet). Each worker holds one :class:`~simgrade.sandbox.Sandbox` (one zygote that imported torch
once) for all its submissions; every submission still gets its own freshly forked runner with
private namespaces (a :class:`~simgrade.sandbox.Session`), so nothing carries over between
students. The main process never imports torch. Processes rather than threads: the grader's own
work (reference losses, hypothesis' search) is Python that holds the GIL, and the probes seed
torch's global RNG, which threads would share.

Failure handling: a submission that hangs or crashes is stopped by its own time limits inside
``grade``, which also restarts a sandbox that stopped answering; a grader worker that dies is
replaced and the folder retried once; a grading that runs past :func:`task_budget` (a grader bug,
not a student's doing) is killed. Folders that could not be graded get no JSON, are listed on
stderr, and make the exit status 1 (re-running grades them).
"""
from __future__ import annotations

import csv
import io
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_any
from pathlib import Path
from typing import Sequence

from simgrade.results import question_scores, read_result, result_path, write_json_atomic, write_text_atomic
from simgrade.sandbox.limits import Limits

IGNORED_NAMES = frozenset({"__MACOSX", "__pycache__"})
"""Sub-folders that are never submissions (besides hidden ones)."""
MAX_ATTEMPTS = 2
"""Tries per folder when the grader worker itself dies while grading it."""
MAX_STARTUP_DEATHS = 3
"""Workers that may die before grading anything before the batch gives up."""
PRELOAD = ["simgrade.grade"]
"""Imported once by the forkserver, inherited by every worker."""


def task_budget(limits: Limits, questions: Sequence | None = None) -> float:
    """Seconds after which one folder's grading is considered stuck (a last resort; the sandbox's
    own limits end a slow submission long before): per code question (``questions``, by default the
    key's), its inputs at the call limit, a few reloads after crashes, and the bounded counterexample search."""
    if questions is None:
        from simgrade.key import load_key

        questions = load_key().code
    per_question = [max(12, len(q.battery) + sum(len(s.inputs) for s in q.stress)) * limits.call_seconds
                    + 4 * limits.load_seconds + q.search.seconds + 10.0 for q in questions]
    return 120.0 + sum(per_question)


def default_jobs() -> int:
    """The CPUs this process may run on (``os.cpu_count()`` where affinity is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def submissions(batch_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """The submission folders of ``batch_dir``, sorted by name."""
    out = out_dir.resolve() if out_dir is not None else None
    found = []
    for entry in sorted(Path(batch_dir).iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or entry.name in IGNORED_NAMES or not entry.is_dir():
            continue
        if out is not None and entry.resolve() == out:
            continue
        found.append(entry)
    return found


def _number(value: float) -> str:
    value = round(float(value), 4)
    return str(int(value)) if value == int(value) else repr(value)


def write_grades_csv(out_dir: Path, names: list[str], question_ids: list[str]) -> Path:
    """``OUT/grades.csv`` from the JSONs present for ``names`` (a folder without one has no row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "total", *question_ids])
    for name in names:
        data = read_result(result_path(out_dir, name))
        if data is None:
            continue
        scores = question_scores(data)
        writer.writerow([name, _number(data["score"]), *(_number(scores.get(q, 0.0)) for q in question_ids)])
    path = Path(out_dir) / "grades.csv"
    write_text_atomic(path, buffer.getvalue())
    return path


# ------------------------------------------------------------------------------------------ worker
def _worker(conn, limits: Limits, isolation: str, out_dir: str, protect: list[str]) -> None:
    """One grader process: a sandbox for all its folders; grades what it is sent, writes the JSON.

    ``protect``: the submissions folder and OUT, which no student's code may reach.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and stops us

    def stop(*_):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    sandbox = None
    try:
        try:
            from simgrade.sandbox import Sandbox

            sandbox = Sandbox(limits, isolate=isolation, protect=[Path(p) for p in protect]).start()  # imports torch meanwhile
            from simgrade.grade import grade
            from simgrade.key import load_key

            key = load_key()
        except BaseException as error:  # noqa: BLE001 - reported to the main process, which stops
            conn.send(("fatal", f"the grader could not start: {error!r}\n{traceback.format_exc()}"))
            return
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            name, folder = task
            conn.send(("start", name))
            start = time.monotonic()
            try:
                result = grade(Path(folder), sandbox, key).with_visibility(key.visibility_of)  # restarts a stopped sandbox
                data = result.to_gradescope()
                write_json_atomic(result_path(Path(out_dir), name), data)
            except Exception as error:  # noqa: BLE001 - a grader bug: reported, the batch goes on
                conn.send(("error", name, f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
                continue
            conn.send(("done", name, data["score"], data["max_score"], time.monotonic() - start,
                       list(result.extra.get("flags", []))))
    finally:
        if sandbox is not None:
            sandbox.close()


@dataclass
class _Slot:
    process: mp.process.BaseProcess
    conn: object
    task: tuple[str, str] | None = None
    started: float | None = None
    graded: int = 0


@dataclass
class _State:
    pending: deque
    attempts: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    done: list = field(default_factory=list)
    fatal: str | None = None
    startup_deaths: int = 0


def _context():
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)  # no effect once the forkserver runs (then it already has them)
    return ctx


def _start_worker(ctx, limits: Limits, isolation: str, out_dir: Path, target=_worker, protect: tuple = ()) -> _Slot:
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=target, args=(theirs, limits, isolation, str(out_dir), [str(p) for p in protect]), daemon=True,
                          name="simgrade-batch-worker")
    process.start()
    theirs.close()
    return _Slot(process, ours)


def _stop_worker(slot: _Slot, graceful: bool = True) -> None:
    if graceful and slot.process.is_alive():
        try:
            slot.conn.send(None)
        except OSError:
            pass
        slot.process.join(timeout=10)
    if slot.process.is_alive():
        slot.process.terminate()  # the worker closes its sandbox and exits
        slot.process.join(timeout=5)
    if slot.process.is_alive():
        slot.process.kill()
        slot.process.join()
    slot.conn.close()


def _grade_all(todo: list[tuple[str, str]], out_dir: Path, jobs: int, limits: Limits, isolation: str,
               progress, target=_worker, budget: float | None = None, protect: tuple = ()) -> _State:
    """Hand ``todo`` to ``jobs`` workers running ``target``; replace dead or stuck ones."""
    state = _State(deque(todo))
    ctx = _context()
    budget = task_budget(limits) if budget is None else budget
    slots: list[_Slot] = []
    finished = False
    try:
        while (state.pending or any(s.task for s in slots)) and state.fatal is None:
            busy = sum(1 for s in slots if s.task)
            while len(slots) < min(jobs, busy + len(state.pending)):
                slots.append(_start_worker(ctx, limits, isolation, out_dir, target, protect))
            for slot in slots:
                if slot.task is None and state.pending:
                    slot.task = state.pending.popleft()
                    slot.started = None
                    state.attempts[slot.task[0]] = state.attempts.get(slot.task[0], 0) + 1
                    try:
                        slot.conn.send(slot.task)
                    except OSError:  # it just died: noticed below, and the folder goes back in the queue
                        pass
            ready = set(wait_any([s.conn for s in slots] + [s.process.sentinel for s in slots], timeout=1.0))
            now = time.monotonic()
            for slot in list(slots):
                lost, stuck = None, False
                if slot.conn in ready or slot.process.sentinel in ready:
                    while True:
                        try:
                            if not slot.conn.poll():
                                break
                            message = slot.conn.recv()
                        except (EOFError, OSError):
                            break
                        _handle(message, slot, state, progress)
                    if not slot.process.is_alive():
                        lost = f"the grader process ended unexpectedly (exit code {slot.process.exitcode})"
                if lost is None and slot.task and slot.started is not None and now - slot.started > budget:
                    lost, stuck = f"grading took longer than {budget:g} s and was stopped", True
                if lost is None:
                    continue
                _stop_worker(slot, graceful=False)
                slots.remove(slot)
                _lost(slot, lost, stuck, state, progress)
        finished = state.fatal is None
    finally:
        for slot in slots:  # idle after a finished run; stopped mid-grading after Ctrl-C or an error
            _stop_worker(slot, graceful=finished)
    return state


def _lost(slot: _Slot, why: str, stuck: bool, state: _State, progress) -> None:
    """A worker died or was stopped: its folder goes back in the queue once, else it failed."""
    if slot.started is None and slot.graded == 0:
        state.startup_deaths += 1
        if state.startup_deaths >= MAX_STARTUP_DEATHS:
            state.fatal = f"grader processes keep ending before grading anything ({why})"
    if slot.task is None:
        return
    name = slot.task[0]
    if slot.started is None:  # it had not begun this folder: no attempt spent
        state.attempts[name] -= 1
        state.pending.appendleft(slot.task)
    elif not stuck and state.attempts[name] < MAX_ATTEMPTS:
        state.pending.appendleft(slot.task)
    else:
        state.failed[name] = why
        progress.update(1)


def _handle(message: tuple, slot: _Slot, state: _State, progress) -> None:
    kind = message[0]
    if kind == "start":
        slot.started = time.monotonic()
    elif kind == "done":
        _, name, score, max_score, _seconds, flags = message
        state.done.append(name)
        slot.task, slot.started = None, None
        slot.graded += 1
        progress.set_postfix_str(f"{name}: {_number(score)}/{_number(max_score)}" + (f" ({', '.join(flags)})" if flags else ""),
                                 refresh=False)
        progress.update(1)
    elif kind == "error":
        _, name, text = message
        state.failed[name] = text
        slot.task, slot.started = None, None
        progress.update(1)
    elif kind == "fatal":
        state.fatal = message[1]


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="submission", desc="grading", dynamic_ncols=True, mininterval=0.5)


def run_batch(batch_dir: Path, out_dir: Path, *, jobs: int | None = None, force: bool = False,
              limits: Limits | None = None, isolation: str = "auto", report: bool = True) -> int:
    """Grade every sub-folder of ``batch_dir`` into ``out_dir``; the exit status (0: all graded)."""
    batch_dir, out_dir = Path(batch_dir), Path(out_dir)
    if not batch_dir.is_dir():
        sys.stderr.write(f"grader.py: error: submissions folder {str(batch_dir)!r} does not exist or is not a folder\n")
        return 2
    if out_dir.exists() and not out_dir.is_dir():
        sys.stderr.write(f"grader.py: error: --out {str(out_dir)!r} exists and is not a folder\n")
        return 2
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        sys.stderr.write(f"grader.py: error: --jobs must be at least 1 (got {jobs})\n")
        return 2
    limits = limits or Limits()
    out_dir.mkdir(parents=True, exist_ok=True)
    folders = submissions(batch_dir, out_dir)
    names = [f.name for f in folders]
    todo = [(f.name, str(f.resolve())) for f in folders
            if force or read_result(result_path(out_dir, f.name)) is None]
    skipped = len(folders) - len(todo)
    sys.stderr.write(f"{len(folders)} submission(s) in {batch_dir}"
                     + (f"; {skipped} already graded in {out_dir}, skipped (--force re-grades them)" if skipped else "")
                     + "\n")
    state = _State(deque())
    interrupted = False
    if todo:
        progress = _progress_bar(len(todo))
        try:
            state = _grade_all(todo, out_dir, min(jobs, len(todo)), limits, isolation, progress,
                               protect=(batch_dir.resolve(), out_dir.resolve()))
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.close()
    from simgrade.key import load_key

    question_ids = load_key().question_ids
    csv_path = write_grades_csv(out_dir, names, question_ids)
    status = 0
    if report:
        try:
            from simgrade.classreport import write_report

            write_report(out_dir, names, question_ids)
        except Exception as error:  # noqa: BLE001 - the grades are written; say what went wrong
            sys.stderr.write(f"grader.py: could not write the class report: {type(error).__name__}: {error}\n")
            status = 1
    if state.fatal:
        sys.stderr.write(f"grader.py: error: {state.fatal}\n")
        return 1
    for name, why in state.failed.items():
        sys.stderr.write(f"grader.py: could not grade {name}: {why.strip()}\n")
    graded = sum(1 for n in names if result_path(out_dir, n).exists())
    sys.stderr.write(f"{graded}/{len(folders)} graded; wrote {csv_path}"
                     + (f" and {out_dir / 'report.html'}" if report and status == 0 else "") + "\n")
    if interrupted:
        sys.stderr.write("grader.py: interrupted; run the same command again to grade the rest\n")
        return 130
    return 1 if state.failed else status
