"""``python grader.py``: the commands of CONTRACT.md.

Heavy imports happen after the sandbox's zygote has been started, so that its torch import and
the grader's run side by side.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

from simgrade.results import write_json_atomic


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line, exit status 2
        sys.stderr.write(f"grader.py: error: {message} (see --help)\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader.py", description="Grade the similarity-learning homework (see CONTRACT.md).")
    parser.add_argument("submission", nargs="?", type=Path, help="a submission folder to grade")
    parser.add_argument("--check", type=Path, metavar="SUBMISSION_DIR",
                        help="before handing in: how the answers were read and whether the functions run; no grading")
    parser.add_argument("--verbose", action="store_true", help="the report lists every passing test too")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write Gradescope results.json to FILE")
    parser.add_argument("--batch", type=Path, metavar="SUBMISSIONS_DIR", help="grade every sub-folder")
    parser.add_argument("--out", type=Path, metavar="OUT_DIR", help="where --batch writes its results")
    parser.add_argument("--jobs", type=int, default=None, metavar="N", help="parallel graders for --batch (default: the CPUs available)")
    parser.add_argument("--force", action="store_true", help="--batch: re-grade folders already graded; --handout: overwrite")
    parser.add_argument("--handout", type=Path, metavar="DIR", help="write the student starter kit")
    parser.add_argument("--gradescope-bundle", type=Path, metavar="FILE.zip", help="write a Gradescope autograder zip")
    parser.add_argument("--verify", action="store_true", help="run every claim check behind the answer key")
    parser.add_argument("--quick", action="store_true", help="--verify: skip the slow (training) checks")
    parser.add_argument("--isolation", choices=("auto", "bwrap", "none"), default=os.environ.get("SIMGRADE_ISOLATION", "auto"),
                        help="sandbox for student code: bubblewrap when available (auto), required (bwrap), or none")
    parser.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                        help="wall time per call of a student function (default 20)")
    return parser


def load_key_or_exit():
    """The answer key and its code questions; a key or question file that cannot be used is one clear line, exit 2."""
    from simgrade.key import load_key

    try:
        return load_key()
    except ValueError as error:  # AnswerKeyError, QuestionError: what is wrong, and the valid choices
        sys.stderr.write(f"grader.py: error: {error}\n")
        raise SystemExit(2) from None


def limits_from(args):
    """The sandbox limits with the command line's changes."""
    from simgrade.sandbox.limits import Limits

    if args.time_limit is None:
        return Limits()
    return Limits(call_seconds=args.time_limit, load_seconds=args.time_limit)


def _safe_stdout() -> None:
    if isinstance(sys.stdout, io.TextIOWrapper):  # a terminal that cannot show a student's characters
        sys.stdout.reconfigure(errors="backslashreplace")


def check_one(args) -> int:
    """``--check``: how the submission is read and whether its functions run; exit 0 (2 for a usage error)."""
    from simgrade.sandbox import Sandbox

    sandbox = Sandbox(limits_from(args), isolate=args.isolation).start()
    try:
        from simgrade.check import check
        from simgrade.text import untrusted

        key = load_key_or_exit()
        try:
            report = check(args.check, sandbox, key)
        except Exception as error:  # noqa: BLE001 - a grader bug (check() never raises for a submission's doing)
            why = untrusted(f"{type(error).__name__}: {error}", 300, multiline=False)
            sys.stderr.write(f"grader.py: error: the check failed, a bug of the grader: {why}\n")
            return 1
    finally:
        sandbox.close()
    _safe_stdout()
    print(report.text())
    return 0


def grade_one(args, started: float | None = None) -> int:
    """Grade one folder: the report on stdout, results.json; exit 0, or 1 when the grader itself failed."""
    from simgrade.sandbox import Sandbox

    results = [args.json.resolve().parent] if args.json else []  # student code must not reach its results
    sandbox = Sandbox(limits_from(args), isolate=args.isolation, protect=results).start()
    try:
        from simgrade.grade import failed_result, grade
        from simgrade.report import format_report
        from simgrade.text import untrusted

        key = load_key_or_exit()
        try:
            result = grade(args.submission, sandbox, key)
        except Exception as error:  # noqa: BLE001 - a grader bug (grade() never raises for a submission's doing)
            why = untrusted(f"{type(error).__name__}: {error}", 300, multiline=False)
            if args.json:  # so that Gradescope shows the student something
                write_json_atomic(args.json, failed_result(key, f"The grader failed on this submission ({why}); "
                                                                "the course staff will look at it.")
                                  .with_visibility(key.visibility_of).to_gradescope())
            sys.stderr.write(f"grader.py: error: grading failed, a bug of the grader: {why}"
                             + (f"; wrote a zero {args.json}\n" if args.json else "\n"))
            return 1
    finally:
        sandbox.close()
    result = result.with_visibility(key.visibility_of)
    if started is not None:  # the real wall time: starting the sandbox and the imports included
        result.execution_time = time.monotonic() - started
    if args.json:
        write_json_atomic(args.json, result.to_gradescope())
    _safe_stdout()
    print(format_report(result, str(args.submission), verbose=args.verbose))
    return 0


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = _parser().parse_args(argv)
    modes = [m for m in ("submission", "check", "batch", "handout", "gradescope_bundle") if getattr(args, m) is not None]
    modes += ["verify"] if args.verify else []
    if len(modes) != 1:
        _parser().error("give exactly one of SUBMISSION_DIR, --check, --batch, --handout, --gradescope-bundle, --verify")
    if args.check is not None:
        if not args.check.is_dir():
            _parser().error(f"submission folder {str(args.check)!r} does not exist or is not a folder")
        return check_one(args)
    if args.submission is not None:
        if not args.submission.is_dir():
            _parser().error(f"submission folder {str(args.submission)!r} does not exist or is not a folder")
        return grade_one(args, started)
    if args.batch is not None:
        if not args.batch.is_dir():
            _parser().error(f"submissions folder {str(args.batch)!r} does not exist or is not a folder")
        if args.out is None:
            _parser().error("--batch needs --out OUT_DIR")
        from simgrade.batch import run_batch

        return run_batch(args.batch, args.out, jobs=args.jobs, force=args.force, limits=limits_from(args),
                         isolation=args.isolation)
    if args.handout is not None:
        from simgrade.handout import write_handout

        try:
            written = write_handout(args.handout, load_key_or_exit(), force=args.force)
        except (FileExistsError, NotADirectoryError, PermissionError) as error:
            _parser().error(str(error).replace("use force", "use --force"))
        for path in written:
            print(f"wrote {path}")
        return 0
    if args.gradescope_bundle is not None:
        from simgrade.bundle import write_bundle

        print(f"wrote {write_bundle(args.gradescope_bundle)}")
        return 0
    from simgrade.verify import main as verify

    return verify(include_slow=not args.quick)
