"""Benchmark: grading one submission against a bare ``python -c "import torch"`` (goal: <= 1.5x).

Runs both alternately, several times, in one process tree on this machine, and reports medians,
their ratio, and the grader's own peak memory (goal: < 1 GiB). Prints one JSON line.

    python scripts/bench_grade.py [SUBMISSION_DIR] [--repeat N]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEAK = ("import resource, sys, contextlib, io\n"
        "from simgrade.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main([sys.argv[1]])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(ROOT / "examples" / "correct"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    bare, grading = [], []
    wall([sys.executable, "-c", "import torch"])  # warm the page cache for both
    for _ in range(args.repeat):
        bare.append(wall([sys.executable, "-c", "import torch"]))
        grading.append(wall([sys.executable, "grader.py", args.submission]))
    peak_kib = int(subprocess.run([sys.executable, "-c", PEAK, args.submission], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout.split()[-1])
    print(json.dumps({
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "submission": args.submission,
        "import_torch_s": round(statistics.median(bare), 3),
        "grade_s": round(statistics.median(grading), 3),
        "ratio": round(statistics.median(grading) / statistics.median(bare), 3),
        "goal_ratio": 1.5,
        "grader_peak_mib": round(peak_kib / 1024, 1),
        "goal_peak_mib": 1024,
    }))


if __name__ == "__main__":
    main()
