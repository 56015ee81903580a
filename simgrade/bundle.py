"""``grader.py --gradescope-bundle FILE.zip``: the Gradescope autograder zip.

Gradescope's specification (gradescope-autograders.readthedocs.io, "Autograder Specifications"):
the zip holds ``setup.sh`` and ``run_autograder`` at its root; its whole content is extracted to
``/autograder/source``; ``setup.sh`` runs once, as root, when Gradescope builds the image (Ubuntu);
``run_autograder`` is copied to ``/autograder/run_autograder`` and runs once per submission with
the working directory ``/autograder``, the student's files in ``/autograder/submission``; it must
leave ``/autograder/results/results.json``.

The zip:

    setup.sh            apt: python3 (>= 3.11; python3.11 where the image's python3 is older), venv,
                        pip, bubblewrap; a venv in $ROOT/venv with the CPU build of torch (or
                        $TORCH_SPEC) and the grader's dependencies pinned to the versions it was
                        tested with; then permissions: the venv readable by every user, the source
                        (key, reference, checks) and the results root's alone
    run_autograder      grader.py $ROOT/submission --json $ROOT/results/results.json (as root: the
                        source's and results' permissions asserted again first)
    requirements.txt    the pinned dependencies (torch excepted: it comes from the CPU index)
    grader.py, simgrade/, reference/, checks/, answers/, pyproject.toml, README.md

Why the permissions: Gradescope's containers forbid the namespaces bubblewrap needs, so the grader
falls back to running student code as an unprivileged uid in the container's own file system
(``simgrade/sandbox``); the permissions are then what keeps it from the key and the results.

``ROOT`` is ``${AUTOGRADER_ROOT:-/autograder}`` in both scripts, so the layout can be tried in a
temporary folder; ``run_autograder`` runs ``${PYTHON}`` (default: the venv's python when setup.sh
made one, else python3). The zip is reproducible: sorted members, fixed timestamps.
"""
from __future__ import annotations

import os
import tempfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from simgrade import PROJECT_ROOT

TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
"""Where setup.sh gets torch: the CPU build (Gradescope's containers have no GPU)."""
DEFAULT_TORCH = "2.13.0"
"""The torch version when the installed one cannot be read."""
SOURCES = ("grader.py", "pyproject.toml", "README.md", "simgrade", "reference", "checks", "answers")
"""What of the project goes into the zip (folders recursively)."""
SKIP_PARTS = frozenset({"__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache", "tests"})
SKIP_SUFFIXES = (".pyc", ".pyo", ".tmp", ".swp")
EXECUTABLE = frozenset({"setup.sh", "run_autograder", "grader.py"})
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (Ubuntu).
# It installs Python (>= 3.11), bubblewrap (the sandbox for student code) and, in $ROOT/venv,
# the CPU build of torch and the grader's pinned dependencies (requirements.txt); then it sets the
# permissions that keep the grader's own files away from student code (see the end).
#   AUTOGRADER_ROOT  the root (default /autograder, Gradescope's)
#   TORCH_SPEC       pip's arguments for torch (default: the tested version from the CPU index), e.g.
#                    the path of a local wheel: TORCH_SPEC=/wheels/torch-2.13.0+cpu-cp311-...whl
set -euo pipefail
ROOT=${AUTOGRADER_ROOT:-/autograder}
SOURCE="$ROOT/source"
TORCH_SPEC=${TORCH_SPEC:-"torch==@TORCH@ --index-url @TORCH_INDEX@"}
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap ca-certificates
PY=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
    PY=python3.11
fi
"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --no-cache-dir --upgrade pip
# shellcheck disable=SC2086  # TORCH_SPEC is several arguments
"$ROOT/venv/bin/python" -m pip install --no-cache-dir $TORCH_SPEC
"$ROOT/venv/bin/python" -m pip install --no-cache-dir -r "$SOURCE/requirements.txt"
# Check that the grader imports (and that torch is the CPU build it was tested with).
cd "$SOURCE" && "$ROOT/venv/bin/python" -c 'import simgrade.grade, torch; print("simgrade ready; torch", torch.__version__)'

# Permissions. Gradescope's containers forbid the namespaces bubblewrap needs, so the grader runs
# student code as an unprivileged uid in this very file system: file permissions are then all
# that keeps it from the key. That uid must run the venv (torch included), and must neither read
# the grader's files (answers/key.toml, reference/, checks/) nor write the results.
chmod -R o+rX "$ROOT/venv"
dir="$ROOT/venv"
while dir=$(dirname "$dir") && [ "$dir" != / ]; do chmod o+x "$dir"; done
chown -R root:root "$SOURCE"
chmod -R go-rwx "$SOURCE"
mkdir -p "$ROOT/results"
chown root:root "$ROOT" "$ROOT/results"
chmod go-w "$ROOT" && chmod go-rwx "$ROOT/results"
echo "permissions: $ROOT/venv readable by all; $SOURCE and $ROOT/results root's only"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: grade $ROOT/submission into $ROOT/results/results.json.
#   AUTOGRADER_ROOT  the root (default /autograder, Gradescope's)
#   PYTHON           the interpreter (default: the venv setup.sh made, else python3)
set -uo pipefail
ROOT=${AUTOGRADER_ROOT:-/autograder}
SOURCE="$ROOT/source"
RESULTS="$ROOT/results/results.json"
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/venv/bin/python" ]; then PYTHON="$ROOT/venv/bin/python"; else PYTHON=python3; fi
fi
mkdir -p "$ROOT/results"
rm -f "$RESULTS"  # only the grader's own result may be uploaded
if [ "$(id -u)" -eq 0 ]; then
    # As setup.sh left them, in case the image changed since: student code, run as another uid
    # where bubblewrap cannot run, must not read the grader's files nor write the results.
    chmod -R go-rwx "$SOURCE" "$ROOT/results" && chmod go-w "$ROOT" || exit 1
fi
if [ "$(id -u)" -eq 0 ] && [ -f /.dockerenv ]; then
    # A container of its own (Gradescope's), where bubblewrap cannot make a private tmpfs: the shared
    # temporary folders are closed to other uids for the run, and each runner's scratch goes on
    # /dev/shm, a tmpfs whose size the container caps (Docker's default: 64 MiB), so student code
    # cannot fill the disk the results are written to.
    chmod o-w /tmp /var/tmp
    export SIMGRADE_SCRATCH=/dev/shm
fi
cd "$SOURCE"
"$PYTHON" "$SOURCE/grader.py" "$ROOT/submission" --json "$RESULTS"
status=$?
if [ "$status" -ne 0 ]; then
    # No result rather than a wrong one: Gradescope then reports the autograder as failed.
    rm -f "$RESULTS"
    echo "run_autograder: the grader exited with status $status" >&2
fi
exit "$status"
"""


def torch_version() -> str:
    """The installed torch's version without its local part (``2.13.0+cpu`` -> ``2.13.0``)."""
    try:
        return metadata.version("torch").split("+")[0]
    except metadata.PackageNotFoundError:
        return DEFAULT_TORCH


def requirements(project: Path = PROJECT_ROOT) -> list[str]:
    """The project's dependencies (torch excepted), pinned to the installed versions where installed."""
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    pinned = []
    for spec in data["project"]["dependencies"]:
        name = spec.split(";")[0].strip()
        for sep in "<>=!~[ ":
            name = name.split(sep)[0]
        if name.lower() == "torch":
            continue
        try:
            pinned.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pinned.append(spec)
    return pinned


def _members(project: Path) -> list[tuple[str, Path]]:
    members = []
    for item in SOURCES:
        path = project / item
        if path.is_file():
            members.append((item, path))
        elif path.is_dir():
            for file in sorted(path.rglob("*")):
                relative = file.relative_to(project)
                if (file.is_file() and not file.is_symlink() and not SKIP_PARTS & set(relative.parts)
                        and not file.name.endswith(SKIP_SUFFIXES) and not file.name.startswith(".")):
                    members.append((relative.as_posix(), file))
    return sorted(members)


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if Path(name).name in EXECUTABLE and "/" not in name else 0o644
    info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
    info.create_system = 3  # unix, so that unzip honours the permissions
    archive.writestr(info, data)


def write_bundle(path: Path, project: Path = PROJECT_ROOT) -> Path:
    """Write the Gradescope autograder zip to ``path`` (atomically) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scripts = {
        "setup.sh": SETUP_SH.replace("@TORCH@", torch_version()).replace("@TORCH_INDEX@", TORCH_INDEX),
        "run_autograder": RUN_AUTOGRADER,
        "requirements.txt": "\n".join(requirements(project)) + "\n",
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".zip.tmp")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            for name, text in sorted(scripts.items()):
                _add(archive, name, text.encode("utf-8"))
            for name, file in _members(project):
                if name not in scripts:
                    _add(archive, name, file.read_bytes())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
