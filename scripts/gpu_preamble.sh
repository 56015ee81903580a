# Sourced by the GPU scripts (gpu_check.sh, gpu_course.sh) once they have set OUT and PY: log everything
# to $OUT/log.txt, define `stage`, `status` and `started`, name the machine, and make sure kornia imports
# (installed from ./.whl with pip --no-index when python3 lacks it; it stops the script otherwise).
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
exec > >(tee -a "$OUT/log.txt") 2>&1
status=0
stage() { echo; echo "=== $1 ($(date +%T))"; }
started=$(date +%s)

stage "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")'
if ! "$PY" -c 'import kornia' 2>/dev/null; then
    if [ -d .whl ]; then
        "$PY" -m pip install --quiet --no-index --find-links .whl kornia || status=1
    else
        echo "kornia missing and no ./.whl folder: carry the kornia and kornia_rs wheels"; status=1
    fi
fi
"$PY" -c 'import kornia; print("kornia", kornia.__version__)' || { echo "no kornia: stopping"; exit 1; }
