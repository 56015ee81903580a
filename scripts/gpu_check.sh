#!/usr/bin/env bash
# The GPU checks of issue 4, as ONE script for a CUDA machine (about 5 minutes on one H100):
#   1. kornia: installed from ./.whl (pip --no-index) when python3 lacks it;
#   2. the tests of the data/augmentation/model/training/analysis/experiment modules, on CUDA;
#   3. scripts/bench_train.py: training images/s of each encoder (eager autoencoder, A, B, C; compiled C);
#   4. a course-scale contrastive run (augmentation C, 15 epochs x 40,000 images of 64x64, course encoder,
#      batch 256, bf16, torch.compile), timed: the goal is at most 2 minutes of training on an H100.
# Writes into $OUT (default ./out/gpu): log.txt (everything), summary.json, bench.json, pytest.txt,
# course_metrics.json, course_details.json, nn_contrastive_C.png: 7 files, none over 1 MB.
#
#   OUT=/some/dir bash scripts/gpu_check.sh
#   ENCODERS=contrastive_A,contrastive_B,contrastive_C bash scripts/gpu_check.sh   # more course runs (+~1.5 min each)
# The whole homework at course scale, for three seeds, is scripts/gpu_course.sh.
#
# Needs: python3 with a CUDA torch (>= 2.5.1; 2.11 seen), numpy, tqdm, matplotlib, pytest (all in the
# device image) and kornia: if missing, put kornia-0.9.0-py3-none-any.whl and the kornia_rs wheel for
# that python (cp312 manylinux) in ./.whl (e.g. `cp /opt/wheels/kornia-0.9.0-*.whl
# /opt/wheels/kornia_rs-0.2.0-cp312-*.whl .whl/`) and carry .whl.
# Each stage has its own time limit and the script goes on after a failed stage; exit status 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/gpu}
PY=${PYTHON:-python3}
ENCODERS=${ENCODERS:-contrastive_C}
PRESET=${PRESET:-course}   # PRESET=micro SIMGRADE_DEVICE=cpu: a dry run of the script itself on a CPU
mkdir -p "$OUT"
SCRATCH=$(mktemp -d)
export SIMGRADE_DEVICE=${SIMGRADE_DEVICE:-cuda}
export SIMGRADE_CACHE=${SIMGRADE_CACHE:-$SCRATCH/cache}
source scripts/gpu_preamble.sh   # log.txt, stage, status, started; the machine; kornia

stage "tests on $SIMGRADE_DEVICE"
t0=$(date +%s)
timeout 120 "$PY" -m pytest -q -p no:cacheprovider -m 'not slow' \
    tests/test_data.py tests/test_augment.py tests/test_augment_warp.py tests/test_models.py tests/test_train.py \
    tests/test_train_bench.py tests/test_analysis.py tests/test_experiments.py 2>&1 | tee "$OUT/pytest.txt" | tail -25
tests_rc=${PIPESTATUS[0]}; [ "$tests_rc" = 0 ] || status=1
tests_s=$(( $(date +%s) - t0 ))

stage "benchmark"
t0=$(date +%s)
: > "$OUT/bench.json"
timeout 60 "$PY" scripts/bench_train.py --preset "$PRESET" >> "$OUT/bench.json" || status=1
timeout 90 "$PY" scripts/bench_train.py --preset "$PRESET" --encoders C --compile >> "$OUT/bench.json" || status=1
cat "$OUT/bench.json"
bench_s=$(( $(date +%s) - t0 ))

stage "course-scale run ($PRESET): $ENCODERS"
t0=$(date +%s)
timeout 240 "$PY" -m reference.experiments --preset "$PRESET" --encoders "$ENCODERS" --out "$SCRATCH/course" --no-progress \
    > "$SCRATCH/course.stdout" || status=1
course_s=$(( $(date +%s) - t0 ))
cp "$SCRATCH/course/metrics.json" "$OUT/course_metrics.json" 2>/dev/null || true
cp "$SCRATCH/course/details.json" "$OUT/course_details.json" 2>/dev/null || true
cp "$SCRATCH/course/nn_contrastive_C.png" "$OUT/" 2>/dev/null || true

stage "summary"
"$PY" - "$OUT" "$tests_rc" "$tests_s" "$bench_s" "$course_s" "$(( $(date +%s) - started ))" <<'EOF'
import json, sys
from pathlib import Path
out, tests_rc, tests_s, bench_s, course_s, total_s = sys.argv[1:]
out = Path(out)
summary = {"tests_rc": int(tests_rc), "seconds": {"tests": int(tests_s), "bench": int(bench_s),
           "course_run": int(course_s), "total": int(total_s)}}
bench = [json.loads(l) for l in (out / "bench.json").read_text().splitlines() if l.startswith("{")] if (out / "bench.json").exists() else []
summary["bench"] = [{"compile": b["compile"], **{k: v["images_per_second"] for k, v in b["results"].items()}} for b in bench]
details = out / "course_details.json"
if details.exists():
    d = json.loads(details.read_text())
    summary["course"] = {}
    for k, v in d["seconds"].items():
        if isinstance(v, dict):
            ep = v.get("epochs") or [0.0]
            rest = sorted(ep[1:]) or ep
            summary["course"][k] = {"train_s": v["train"], "first_epoch_s": ep[0], "steady_epoch_s": rest[len(rest) // 2],
                                    "images_per_second": v["images_per_second"], "goal_2min_met": v["train"] <= 120}
    summary["course"]["total_s"] = d["seconds"].get("total")
    summary["course_metrics"] = json.loads((out / "course_metrics.json").read_text())
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
EOF
rm -rf "$SCRATCH"
exit $status
