#!/usr/bin/env bash
# Run the Gradescope bundle as Gradescope runs it, in a real Docker container, against attacks.
#
#   bash scripts/gradescope_docker.sh [SUBMISSION...]     (as root; default: every one below)
#
# 1. tools      docker.io and debootstrap from apt; dockerd started in the background if not running
# 2. base       simgrade-gradescope-base: Debian bookworm (minbase) from this machine's apt mirror,
#               built once with debootstrap and `docker import` (no image registry needed); kept
# 3. bundle     grader.py --gradescope-bundle; the image simgrade-gradescope:<zip hash> is built as
#               Gradescope does: the zip into /autograder/source, run_autograder beside it, setup.sh
#               as root (bridge network for apt and pip; torch from this machine's local wheel:
#               TORCH_SPEC), then `docker commit`; kept while the bundle is unchanged
# 4. grade      each submission in a fresh container, as Gradescope runs one: root, Docker's default
#               seccomp profile and capabilities, no network; scripts/docker_attacks/check.py copies
#               it to /autograder/submission, runs /autograder/run_autograder and checks what held
# 5. table      one row per submission; the exit status is 1 when a check failed
#
# Submissions: examples/correct (must score full), hostile ones of tests/corpus/grader, and the
# Docker-specific ones in scripts/docker_attacks/ (each says what it tried in its 7b feedback).
# Environment: WORK (default /var/tmp/simgrade-gradescope), MIRROR (default: this machine's apt
# mirror), TORCH_WHEEL (default: the cp311 torch wheel in /opt/wheels, else PyPI's CPU index).
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$PWD
WORK=${WORK:-/var/tmp/simgrade-gradescope}
BASE=simgrade-gradescope-base
ATTACKS=scripts/docker_attacks
CORPUS=tests/corpus/grader
DEFAULT_SUBMISSIONS=(correct
    hostile_reads_key hostile_imports_reference hostile_escapee hostile_fake_results_late
    hostile_fake_results_at_import hostile_memory_hog hostile_rewrites_answers
    docker_swappiness docker_reads_shadow docker_fork_300 docker_fills_tmp docker_grader_files
    docker_daemon docker_kill_all)
if [ $# -gt 0 ]; then SUBMISSIONS=("$@"); else SUBMISSIONS=("${DEFAULT_SUBMISSIONS[@]}"); fi
mkdir -p "$WORK"

now() { date +%s.%N; }
STAGE_START=$(now)
TIMINGS=()
stage_done() {  # stage_done NAME: print and remember how long the stage took
    local seconds
    seconds=$(awk -v a="$STAGE_START" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    TIMINGS+=("$1 ${seconds}s")
    echo "== $1: ${seconds} s"
    STAGE_START=$(now)
}
[ "$(id -u)" -eq 0 ] || { echo "run as root (docker, debootstrap)" >&2; exit 2; }

# ------------------------------------------------------------------------------------ 1. tools
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap
fi
if ! docker info >/dev/null 2>&1; then
    echo "starting dockerd (log: $WORK/dockerd.log)"
    nohup dockerd >"$WORK/dockerd.log" 2>&1 &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null || { echo "dockerd did not start; see $WORK/dockerd.log" >&2; exit 1; }
fi
stage_done tools

# ------------------------------------------------------------------------------------- 2. base
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
    if [ -z "${MIRROR:-}" ]; then  # this machine's Debian mirror (deb822 or one-line sources)
        MIRROR=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '$2 !~ /security/ { print $2; exit }')
        MIRROR=${MIRROR:-$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)}
        MIRROR=${MIRROR:-http://deb.debian.org/debian}
    fi
    echo "debootstrap bookworm from $MIRROR"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,bubblewrap,ca-certificates,unzip,procps \
        bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    tar -C "$WORK/rootfs" -c . | docker import - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
else
    echo "reusing $BASE"
fi
stage_done base

# ----------------------------------------------------------------------------------- 3. bundle
"$PROJECT/.venv/bin/python" grader.py --gradescope-bundle "$WORK/autograder.zip"
IMAGE=simgrade-gradescope:$(sha256sum "$WORK/autograder.zip" | cut -c1-12)
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    # This machine's local packages: the torch CPU wheel, and indexes holding the pinned versions.
    MOUNTS=(-v "$WORK/autograder.zip:/tmp/autograder.zip:ro")
    PIP_ENV=()
    TORCH_WHEEL=${TORCH_WHEEL:-$(ls /opt/wheels/torch-*-cp311-*.whl 2>/dev/null | head -1 || true)}
    if [ -n "$TORCH_WHEEL" ]; then
        MOUNTS+=(-v "$(dirname "$TORCH_WHEEL"):/wheels:ro")
        PIP_ENV+=("TORCH_SPEC=/wheels/$(basename "$TORCH_WHEEL")")
    fi
    INDEXES=""
    for index in /opt/pypi /opt/pypi-more; do
        if [ -d "$index/simple" ]; then MOUNTS+=(-v "$index:$index:ro"); INDEXES="$INDEXES file://$index/simple"; fi
    done
    if [ -n "$INDEXES" ]; then PIP_ENV+=("PIP_EXTRA_INDEX_URL=${INDEXES# }"); fi
    # This machine reaches PyPI through a proxy whose CA only its own bundle trusts: pip gets that bundle.
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        MOUNTS+=(-v /etc/ssl/certs/ca-certificates.crt:/host-ca.crt:ro)
        PIP_ENV+=(PIP_CERT=/host-ca.crt)
    fi
    echo "network from a container: $(docker run --rm "${MOUNTS[@]}" "$BASE" python3 -c '
import os, ssl, urllib.request
context = ssl.create_default_context(cafile="/host-ca.crt" if os.path.exists("/host-ca.crt") else None)
for url in ("http://deb.debian.org/debian/dists/bookworm/Release", "https://pypi.org/simple/pip/"):
    try:
        print(url.split("/")[2], urllib.request.urlopen(url, timeout=20, context=context).status, end="; ")
    except Exception as error:
        print(url.split("/")[2], "unreachable:", error, end="; ")')"
    echo "building $IMAGE: setup.sh as root (log: $WORK/setup.log) with ${PIP_ENV[*]:-no local packages}"
    docker rm -f simgrade-gradescope-build >/dev/null 2>&1 || true
    # What Gradescope does: the zip into /autograder/source, run_autograder to /autograder, setup.sh as root.
    docker run --name simgrade-gradescope-build "${MOUNTS[@]}" "$BASE" bash -c '
        set -e
        mkdir -p /autograder/source
        unzip -q /tmp/autograder.zip -d /autograder/source
        cp /autograder/source/run_autograder /autograder/run_autograder
        cd /autograder/source
        env "$@" bash ./setup.sh' setup "${PIP_ENV[@]}" >"$WORK/setup.log" 2>&1 \
        || { tail -30 "$WORK/setup.log" >&2; docker rm -f simgrade-gradescope-build >/dev/null; exit 1; }
    tail -2 "$WORK/setup.log"
    docker commit --change 'WORKDIR /autograder' --change 'CMD ["/autograder/run_autograder"]' \
        simgrade-gradescope-build "$IMAGE" >/dev/null
    docker rm simgrade-gradescope-build >/dev/null
else
    echo "reusing $IMAGE (the bundle is unchanged)"
fi
docker run --rm "$IMAGE" bash -c 'stat -c "  %A %U %n" /autograder /autograder/source /autograder/source/answers/key.toml /autograder/results /autograder/venv /autograder/venv/lib/python3*/site-packages/torch/__init__.py'
stage_done "bundle image"

# ------------------------------------------------------------------------------------ 4. grade
rm -rf "$WORK/rows" && mkdir -p "$WORK/rows"
for name in "${SUBMISSIONS[@]}"; do
    if [ "$name" = correct ]; then source=examples/correct
    elif [ -d "$ATTACKS/$name" ]; then source=$ATTACKS/$name
    elif [ -d "$CORPUS/$name" ]; then source=$CORPUS/$name
    else echo "no submission $name" >&2; exit 2; fi
    started=$(now)
    # As Gradescope runs a submission: root, default seccomp and capabilities, no network.
    docker run --rm --network none \
        -v "$PROJECT/$source:/handed-in:ro" -v "$PROJECT/$ATTACKS/check.py:/check.py:ro" \
        "$IMAGE" python3 /check.py inside "$name" /handed-in >"$WORK/rows/$name.json" 2>"$WORK/rows/$name.err" \
        || { echo "$name: the check itself failed:" >&2; tail -5 "$WORK/rows/$name.err" >&2; exit 1; }
    printf '  %-32s %5.1f s\n' "$name" "$(awk -v a="$started" -v b="$(now)" 'BEGIN { print b - a }')"
done
stage_done grade

# ------------------------------------------------------------------------------------ 5. table
echo
status=0
rows=()
for name in "${SUBMISSIONS[@]}"; do rows+=("$WORK/rows/$name.json"); done
python3 "$ATTACKS/check.py" table "${rows[@]}" || status=$?
echo
echo "timings: ${TIMINGS[*]}"
exit "$status"
