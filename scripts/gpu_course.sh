#!/usr/bin/env bash
# The whole homework's training at course scale on ONE GPU, for several seeds (issue 11), as one script:
# per seed, `python -m reference.experiments --preset course --seed N`: the autoencoder 30 epochs and the
# contrastive encoders A, B, C 15 epochs each, on 40,000 training images of 64x64 (64,000 generated, the
# last 24,000 validate), batch 256, Adam 2e-4, bf16 autocast, channels_last, torch.compile, data resident
# on the GPU; then each encoder's 1-NN metrics. Target: at most 4 minutes per seed on one H200.
#   1. machine; kornia from ./.whl when python3 lacks it (as scripts/gpu_check.sh);
#   2. the tests of the augmentations and training loops on the GPU (TESTS=0: skip);
#   3. scripts/bench_train.py: training images/s of each encoder alone (autoencoder, A, B, C; eager);
#   4. the data set, generated once into a cache that the runs share;
#   5. the seeds, PARALLEL at a time (default: all at once; each run alone leaves the GPU idle between
#      its small kernels, and three in one 10-minute command fit where three in a row may not);
#   6. summary.json: per seed and encoder the training time, steady images/s and 1-NN lifts; the target.
# Writes into $OUT (default ./out/course; 8 files at most): log.txt, pytest.txt, bench.json, summary.json,
# seed<N>.json ({"metrics", "details"}) per seed, nn_contrastive_C.png of the first seed.
#
#   OUT=/some/dir bash scripts/gpu_course.sh                            # seeds 0 1 2, all at once (~5-8 min)
#   SEEDS=0 bash scripts/gpu_course.sh                                  # one seed: its time alone
#   PRESET=micro SIMGRADE_DEVICE=cpu SEEDS="0 1" bash scripts/gpu_course.sh   # a dry run on a CPU (seconds)
#
# Needs python3 with a CUDA torch, numpy, tqdm, matplotlib, pytest, and kornia (carry its wheels in .whl:
# see scripts/gpu_check.sh). Every stage has its own time limit; each run gets SEED_LIMIT seconds, by default
# what is left of 9.5 minutes since the start, so that one 10-minute command always returns its files.
# The script goes on after a failed stage and exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out/course}
PY=${PYTHON:-python3}
PRESET=${PRESET:-course}
SEEDS=${SEEDS:-0 1 2}
PARALLEL=${PARALLEL:-3}
TESTS=${TESTS:-1}
mkdir -p "$OUT"
SCRATCH=$(mktemp -d)
export SIMGRADE_DEVICE=${SIMGRADE_DEVICE:-cuda}
export SIMGRADE_CACHE=${SIMGRADE_CACHE:-$SCRATCH/cache}
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$SCRATCH/inductor}   # the seeds share compiled kernels
source scripts/gpu_preamble.sh   # log.txt, stage, status, started; the machine; kornia

if [ "$TESTS" = 1 ]; then
    stage "tests on $SIMGRADE_DEVICE"
    timeout 150 "$PY" -m pytest -q -p no:cacheprovider tests/test_augment.py tests/test_augment_warp.py tests/test_train.py \
        > "$OUT/pytest.txt" 2>&1 || status=1
    tail -3 "$OUT/pytest.txt"
fi

stage "benchmark: images/s per encoder ($PRESET)"
timeout 120 "$PY" scripts/bench_train.py --preset "$PRESET" > "$OUT/bench.json" || status=1
cat "$OUT/bench.json"

stage "data"
timeout 120 "$PY" -c "from reference import data, experiments; p = experiments.PRESETS['$PRESET']; data.load(p.n_images, p.data_seed)" || status=1

runs_started=$(date +%s)
SEED_LIMIT=${SEED_LIMIT:-$(( 570 - (runs_started - started) ))}
stage "course runs ($PRESET): seeds $SEEDS, $PARALLEL at a time, at most $SEED_LIMIT s each"
run_seed() {
    local seed=$1 t0 rc
    t0=$(date +%s)
    timeout "$SEED_LIMIT" "$PY" -m reference.experiments --preset "$PRESET" --seed "$seed" --out "$SCRATCH/seed$seed" \
        --no-progress > "$SCRATCH/seed$seed.stdout" 2> "$SCRATCH/seed$seed.stderr"
    rc=$?
    echo "seed $seed: exit $rc after $(( $(date +%s) - t0 )) s"
    grep '^\[experiments\]' "$SCRATCH/seed$seed.stderr" | sed "s/^/  seed $seed /"
    return $rc
}
pids=()
for seed in $SEEDS; do
    while [ "$(jobs -rp | wc -l)" -ge "$PARALLEL" ]; do sleep 1; done
    run_seed "$seed" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
runs_s=$(( $(date +%s) - runs_started ))
first=${SEEDS%% *}
cp "$SCRATCH/seed$first/nn_contrastive_C.png" "$OUT/" 2>/dev/null || true

stage "summary"
"$PY" - "$OUT" "$SCRATCH" "$PRESET" "$runs_s" "$(( $(date +%s) - started ))" $SEEDS <<'EOF' || status=1
import json, sys
from pathlib import Path

out, scratch, preset, runs_s, total_s, *seeds = sys.argv[1:]
out, scratch = Path(out), Path(scratch)
TARGET_S = 240
summary = {"preset": preset, "seeds": [int(s) for s in seeds], "target_seconds_per_seed": TARGET_S,
           "seconds": {"runs": int(runs_s), "total": int(total_s)}, "per_seed": {}}
bench = out / "bench.json"
if bench.exists() and bench.read_text().strip():
    line = json.loads(bench.read_text().splitlines()[-1])
    summary["bench_images_per_second"] = {k: v["images_per_second"] for k, v in line["results"].items()}
    summary["device_name"] = line["device_name"]
for seed in seeds:
    folder = scratch / f"seed{seed}"
    if not (folder / "details.json").exists():
        summary["per_seed"][seed] = {"finished": False}
        continue
    metrics = json.loads((folder / "metrics.json").read_text())
    details = json.loads((folder / "details.json").read_text())
    (out / f"seed{seed}.json").write_text(json.dumps({"metrics": metrics, "details": details}) + "\n")
    chance, p = metrics["chance"], details["preset"]
    encoders = {}
    for name, entry in metrics["encoders"].items():
        batch = min(p["ae_batch"] if name == "autoencoder" else p["contrastive_batch"], details["n_train"])
        images = details["n_train"] // batch * batch                            # an epoch drops its last partial batch
        t = details["seconds"][name]
        epochs = t["epochs"]
        steady = sorted(epochs[1:] or epochs)[len(epochs[1:] or epochs) // 2]   # median epoch after the first (compile)
        encoders[name] = {
            "train_s": t["train"], "with_measurements_s": t["total"], "first_epoch_s": round(epochs[0], 2),
            "steady_epoch_s": round(steady, 2), "steady_images_per_second": round(images / steady),
            "lift": {f: round((a - chance[f]) / (1 - chance[f]), 3) for f, a in entry["knn_accuracy"].items()},
            "knn_accuracy": entry["knn_accuracy"]}
    total = details["seconds"]["total"]
    summary["per_seed"][seed] = {"finished": True, "total_s": total, "train_s": round(sum(e["train_s"] for e in encoders.values()), 1),
                                 "target_met": total <= TARGET_S, "encoders": encoders}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary))
EOF
rm -rf "$SCRATCH"
exit $status
