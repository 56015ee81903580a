"""Grade one submission in the Gradescope container as Gradescope would, and check what held.

Two modes (scripts/gradescope_docker.sh runs both):

    python3 check.py inside NAME SRC   in the container, as root: copy SRC to /autograder/submission,
                                       run /autograder/run_autograder, check, print one JSON line
    python3 check.py table FILE...     on the host: the table of those lines; exit 1 if a row failed

Only the standard library: ``inside`` runs on the image's system python3, not the grader's venv.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path("/autograder")
RESULTS = ROOT / "results" / "results.json"
KEY = ROOT / "source" / "answers" / "key.toml"
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")
SETTLE_SECONDS = 4  # a late writer left behind (docker_daemon waits 3 s) has time to strike
GRADESCOPE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
                  "LANG": "C.UTF-8"}

# What each submission must score, by question ("full", or the points); "written": every question
# other than 7b and 8a together. Attacks of scripts/docker_attacks raise their report from
# autoencoder_loss (7b: 0) and have a right contrastive_loss (8a: full).
EXPECT = {
    "correct": {"7b": "full", "8a": "full", "written": "full"},
    "hostile_reads_key": {"7b": 0, "8a": 0},
    "hostile_imports_reference": {"7b": 0, "8a": 0},
    "hostile_escapee": {"7b": "full", "8a": "full"},
    "hostile_fake_results_late": {"7b": 0, "8a": 0},
    "hostile_fake_results_at_import": {"7b": 0, "8a": 0},
    "hostile_memory_hog": {"7b": 0, "8a": "full"},
    "hostile_rewrites_answers": {"7b": "full", "8a": "full", "written": 0},
}
DOCKER_ATTACK = {"7b": 0, "8a": "full"}


# ---------------------------------------------------------------------------------- in the container
def copy_submission(source: Path, target: Path) -> None:
    """The submission as a student hands it in; the corpus' @PROJECT_ROOT@ / @SUBMISSION@ filled in."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    for path in target.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            filled = text.replace("@PROJECT_ROOT@", str(ROOT / "source")).replace("@SUBMISSION@", str(target))
            if filled != text:
                path.write_text(filled, encoding="utf-8")


def scratch_files() -> dict[str, int]:
    """Every path under /tmp, /var/tmp, /dev/shm, with its owner's uid."""
    found = {}
    for top in SCRATCH:
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(folder, name)
                try:
                    found[path] = os.lstat(path).st_uid
                except OSError:
                    pass
    return found


def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def other_processes() -> list[str]:
    """Processes other than this one (the container's PID 1), as 'pid uid command'; zombies reaped first."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        uid = re.search(r"^Uid:\s+(\d+)", status, re.M).group(1)
        state = re.search(r"^State:\s+(\S)", status, re.M).group(1)
        if state != "Z":
            found.append(f"{entry.name} uid={uid} {command[:80]}")
    return found


def strings(value) -> list[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def key_lines() -> list[str]:
    """Lines of the key in its TOML syntax (comments, `answer = ...`): the grader never writes them."""
    return [line.strip() for line in KEY.read_text().splitlines()
            if len(line.strip()) >= 12 and (line.startswith("#") or " = " in line)]


def inside(name: str, source: str) -> dict:
    submission = ROOT / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    copy_submission(Path(source), submission)
    key = key_lines()
    before = scratch_files()
    started = time.monotonic()
    run = subprocess.run([str(ROOT / "run_autograder")], cwd=ROOT, env=GRADESCOPE_ENV, capture_output=True,
                         text=True, errors="replace", timeout=900)
    row: dict = {"name": name, "exit": run.returncode, "seconds": round(time.monotonic() - started, 1)}
    first = digest(RESULTS)
    time.sleep(SETTLE_SECONDS)
    row["unchanged"] = first is not None and digest(RESULTS) == first
    row["survivors"] = other_processes()
    after = scratch_files()
    row["new_scratch"] = sorted(f"{path} uid={uid}" for path, uid in after.items() if path not in before)
    try:
        data = json.loads(RESULTS.read_text())
        row["valid"] = isinstance(data.get("score"), (int, float)) and isinstance(data.get("tests"), list)
    except (OSError, ValueError, AttributeError):
        data, row["valid"] = {}, False
    text = "\n".join(strings(data))
    row["key_leaked"] = [line for line in key if line in text][:3]
    by_question: dict[str, list[float]] = {}
    for test in data.get("tests", []) if row["valid"] else []:
        question = str(test.get("number", "")).rsplit(".", 1)[0]
        question = question if question in ("7b", "8a") else "written"
        got = by_question.setdefault(question, [0.0, 0.0])
        got[0] += float(test.get("score", 0))
        got[1] += float(test.get("max_score", 0))
    row["scores"] = by_question
    row["total"] = [data.get("score"), data.get("max_score")]
    row["isolation"] = str(data.get("output", "")).split("\n", 1)[0]
    row["uids"] = sorted(set(re.findall(r"\buid=(\d+)", text + run.stdout)))
    said = re.findall(r"ATTACK [\w-]+: (?:SUCCEEDED|failed|tried)[^\n\"]{0,200}", text + run.stdout)
    row["attack"] = sorted({s.split(" (at /")[0] for s in said})
    row["stderr_tail"] = run.stderr[-600:]
    return row


# --------------------------------------------------------------------------------------- on the host
def verdicts(row: dict) -> dict[str, str]:
    """Each check: 'ok' or why it failed."""
    expect = EXPECT.get(row["name"], DOCKER_ATTACK)
    out = {}
    out["results"] = "ok" if row["valid"] and row["exit"] == 0 else f"exit {row['exit']}, valid={row['valid']}"
    wrong = []
    for question, want in expect.items():
        got, most = row["scores"].get(question, [None, None])
        if got is None or (want == "full" and got != most) or (want != "full" and got != want):
            wrong.append(f"{question} {got}/{most} (want {want})")
    out["score"] = "ok" if not wrong else "; ".join(wrong)
    out["key"] = "ok" if not row["key_leaked"] else f"leaked: {row['key_leaked'][0][:40]}"
    out["unchanged"] = "ok" if row["unchanged"] else "results.json rewritten or missing"
    out["processes"] = "ok" if not row["survivors"] else f"{len(row['survivors'])} left: {row['survivors'][0]}"
    out["scratch"] = "ok" if not row["new_scratch"] else f"{len(row['new_scratch'])} new: {row['new_scratch'][0]}"
    out["not root"] = "ok" if "0" not in row["uids"] else "student code ran as uid 0"
    succeeded = [a for a in row["attack"] if ": SUCCEEDED" in a]
    out["attack"] = "ok" if not succeeded else succeeded[0][:90]
    return out


def table(files: list[str]) -> int:
    rows = [json.loads(Path(f).read_text()) for f in files]
    checks = list(verdicts(rows[0])) if rows else []
    width = max([len(r["name"]) for r in rows] + [10])
    print(f"{'submission':<{width}}  {'score':>9}  {'uid':>6}  " + "  ".join(f"{c:<9}" for c in checks) + "  grading")
    failures = []
    for row in rows:
        verdict = verdicts(row)
        total = f"{row['total'][0]}/{row['total'][1]}" if row["valid"] else "-"
        uid = ",".join(row["uids"]) or "-"  # as student code reported it (the docker_* attacks do)
        print(f"{row['name']:<{width}}  {total:>9}  {uid:>6}  "
              + "  ".join(f"{'ok' if v == 'ok' else 'FAIL':<9}" for v in verdict.values()) + f"  {row['seconds']} s")
        failures += [f"{row['name']}: {check}: {why}" for check, why in verdict.items() if why != "ok"]
    print("\nisolation (first line of the report):")
    for line in sorted({r["isolation"] for r in rows}):
        print(f"  {line}")
    print("\nwhat the attacks said:")
    for row in rows:
        for said in sorted({s.split(" (at /")[0] for s in row["attack"]}):
            print(f"  {said[:200]}")
    if failures:
        print("\nfailed:")
        for line in failures:
            print(f"  {line[:220]}")
    print(f"\n{len(rows) - len({f.split(':')[0] for f in failures})} of {len(rows)} submissions held on every check")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["inside"]:
        print(json.dumps(inside(sys.argv[2], sys.argv[3])))
    elif sys.argv[1:2] == ["table"]:
        sys.exit(table(sys.argv[2:]))
    else:
        sys.exit(__doc__)
