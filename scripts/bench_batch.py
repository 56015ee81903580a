#!/usr/bin/env python3
"""Throughput of ``grader.py --batch``: amortised wall time per submission vs a bare ``import torch``.

Builds 40 mixed submissions in a temporary folder (copies of ../shared/samples and generated
variants: correct in several styles, missing temperature, sum reduction, wrong targets, detached
graph, the course notebook, the unchanged handout stub, a syntax error, and the hostile sample that
hangs), then alternates, ``--reps`` times: time ``python -c "import torch"`` (three runs) and time
``grader.py --batch DIR --out OUT --jobs 2 --time-limit 2`` into a fresh OUT. The hostile
submissions hang until their time limit; the benchmark passes ``--time-limit 2`` (instead of the
default 20 s) so that four of them do not dominate, and says so in its output.

Prints one JSON object: the medians, every measurement, the ratio
(batch wall / submissions) / (import torch wall), and whether it meets the goal of at most 0.5.

    .venv/bin/python scripts/bench_batch.py [--reps 3] [--jobs 2] [--time-limit 2] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get("SIMGRADE_SAMPLES", ROOT.parent / "shared" / "samples"))

AE_MEAN = """
def autoencoder_loss(enc, dec, batch):
    recon = dec(enc(batch))
    return F.mse_loss(recon, batch)
"""
AE_MANUAL = """
def autoencoder_loss(enc, dec, batch):
    diff = dec(enc(batch)) - batch
    return (diff * diff).mean()
"""
CL_CORRECT = """
def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits)))
"""
CL_LOGSOFTMAX = """
def contrastive_loss(enc, batch1, batch2, tau):
    z1, z2 = enc(batch1), enc(batch2)
    logp = torch.log_softmax(z1 @ z2.T / tau, dim=1)
    return -logp.diagonal().mean()
"""
CL_ZERO_TARGETS = """
def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long))
"""
CL_DETACHED = """
def contrastive_loss(enc, batch1, batch2, tau):
    logits = enc(batch1) @ enc(batch2).T / tau
    return F.cross_entropy(logits, torch.arange(len(logits))).detach()
"""
STUB = """
def autoencoder_loss(enc, dec, batch):
    raise NotImplementedError("FIXME")


def contrastive_loss(enc, batch1, batch2, tau):
    raise NotImplementedError("FIXME")
"""
HEADER = "import torch\nimport torch.nn.functional as F\n"

GENERATED = {
    "manual_mse": HEADER + AE_MANUAL + CL_LOGSOFTMAX,
    "zero_targets": HEADER + AE_MEAN + CL_ZERO_TARGETS,
    "detached": HEADER + AE_MEAN + CL_DETACHED,
    "stub": STUB,
    "syntax_error": HEADER + "def autoencoder_loss(enc, dec, batch)\n    return 0\n",
}
KINDS = ["correct", "missing_temperature", "sum_reduction", "homework_notebook", "hostile", *GENERATED]
"""Ten kinds; ``make_class(n)`` cycles through them."""

ANSWER_VARIANTS = [None, {"q5": 'a = "yes"\nb = "yes"'}, {"q6": 'accuracy_equal = "no"'}, {}]


def _answers(variant: dict | None) -> str | None:
    correct = (SAMPLES / "correct" / "answers.toml").read_text()
    if variant is None:
        return None
    text = correct
    for section, body in variant.items():
        start = text.index(f"[{section}]")
        end = text.find("\n[", start + 1)
        text = text[:start] + f"[{section}]\n{body}\n" + (text[end + 1:] if end != -1 else "")
    return text


def make_submission(folder: Path, kind: str, variant: int = 0) -> Path:
    """One submission of ``kind`` (a sample's name or a key of GENERATED) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind in GENERATED:
        (folder / "similarity.py").write_text(f"# student variant {variant}\n" + GENERATED[kind])
    else:
        for item in (SAMPLES / kind).iterdir():
            shutil.copyfile(item, folder / item.name)
        if kind != "hostile" and (folder / "similarity.py").exists():  # a comment: same fingerprint, other bytes
            with open(folder / "similarity.py", "a") as f:
                f.write(f"\n# submitted copy {variant}\n")
    answers = _answers(ANSWER_VARIANTS[variant % len(ANSWER_VARIANTS)])
    if answers is not None and not (folder / "answers.toml").exists():
        (folder / "answers.toml").write_text(answers)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def make_class(root: Path, n: int = 40) -> list[Path]:
    """``n`` mixed submissions in ``root`` (named ``s000_<kind>`` ...)."""
    root.mkdir(parents=True, exist_ok=True)
    return [make_submission(root / f"s{i:03d}_{KINDS[i % len(KINDS)]}", KINDS[i % len(KINDS)], i // len(KINDS))
            for i in range(n)]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _timed(command: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="batch runs (each between import-torch timings)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--n", type=int, default=40, help="submissions")
    parser.add_argument("--time-limit", type=float, default=2.0, help="passed to grader.py (default 2 s, not 20 s)")
    parser.add_argument("--keep", type=Path, help="leave the submissions and the last OUT here")
    args = parser.parse_args(argv)
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="simgrade-bench-")) if args.keep is None else args.keep
    make_class(work / "class", args.n)
    torch_times, batch_times = [], []
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        _timed([python, "-c", "import torch"], **quiet)  # warm the page cache; not counted
        for rep in range(args.reps):
            torch_times += [_timed([python, "-c", "import torch"], **quiet) for _ in range(3)]
            out = work / f"out{rep}"
            shutil.rmtree(out, ignore_errors=True)
            batch_times.append(_timed([python, str(ROOT / "grader.py"), "--batch", str(work / "class"), "--out", str(out),
                                       "--jobs", str(args.jobs), "--time-limit", f"{args.time_limit:g}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT))
            rows = (out / "grades.csv").read_text().strip().splitlines()
            assert len(rows) == args.n + 1, f"grades.csv has {len(rows) - 1} rows, expected {args.n}"
        torch_times.append(_timed([python, "-c", "import torch"], **quiet))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    per_submission = statistics.median(batch_times) / args.n
    import_torch = statistics.median(torch_times)
    ratio = per_submission / import_torch
    print(json.dumps({
        "machine": f"{_cpu_model()} ({platform.machine()}), {os.cpu_count()} cores",
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "python": platform.python_version(),
        "submissions": args.n, "jobs": args.jobs, "time_limit_s": args.time_limit,
        "batch_wall_s": [round(t, 2) for t in batch_times],
        "import_torch_s": [round(t, 3) for t in torch_times],
        "per_submission_s": round(per_submission, 3),
        "import_torch_median_s": round(import_torch, 3),
        "ratio": round(ratio, 3), "goal": 0.5, "met": ratio <= 0.5,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
