#!/usr/bin/env bash
# gpu_check.sh — the prepared real-GPU check of the numba_cuda backend, for a session that
# is lent an NVIDIA GPU (CI has none: it runs the same tests in Numba's CUDA simulator).
# Under ~5 minutes (each stage bounded; 9 minutes at worst). What it checks, in order:
#   1. install: pip install -e ".[cuda,test]"; where the machine is offline, the package
#      alone (--no-deps --no-build-isolation) over the numba-cuda/CuPy already installed;
#   2. the device: nvidia-smi, numba / numba.cuda implementation / CuPy versions, the GPU
#      and its compute capability, whether PTX compiles (NVVM found);
#   3. tests/backends/test_numba_cuda.py on the real GPU, WITHOUT the simulator
#      (FUSEGRAPH_CUDA_REAL=1): kernels, cuBLAS matmuls, a training step, PTX;
#   4. PTX of every kernel of the digits train step (compile_ptx_all), to $OUT;
#   5. the digits example (examples/digits.py) trained a few epochs on numba_cuda;
#   6. median train_on_batch step times of the digits model on reference, numba_cpu and
#      numba_cuda (interleaved, after a warm-up), first-step losses compared.
# Each stage runs even if an earlier one failed; the script exits non-zero if any failed.
# Results (log, PTX, step times as JSON) go under $OUT if set, else ./gpu_check_out.
#
#   bash benchmarks/gpu_check.sh                       # on the GPU machine
#   GPU_CHECK_SIMULATOR=1 bash benchmarks/gpu_check.sh # dry run of the script, no GPU: no
#        install, tests in the simulator, PTX where NVVM is found, tiny timings
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT_DIR=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT_DIR"
exec > >(tee "$OUT_DIR/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
SIM=${GPU_CHECK_SIMULATOR:-0}
EPOCHS=${GPU_CHECK_EPOCHS:-3}
STEPS=${GPU_CHECK_STEPS:-50}
if [[ "$SIM" == 1 ]]; then
    export NUMBA_ENABLE_CUDASIM=1
    EPOCHS=1
    STEPS=3
else
    export FUSEGRAPH_CUDA_REAL=1
    unset NUMBA_ENABLE_CUDASIM
fi
FAILED=()

stage() {   # stage NAME TIMEOUT_S FUNCTION: run one stage in a child bash, timed and bounded
    local name=$1 limit=$2
    shift 2
    echo
    echo "=== $name ==="
    local start=$SECONDS
    if timeout "$limit" bash -euo pipefail -c "$*"; then
        echo "=== $name: ok ($((SECONDS - start)) s)"
    else
        echo "=== $name: FAILED (exit $?, $((SECONDS - start)) s)"
        FAILED+=("$name")
    fi
}

install() {
    if [[ "$SIM" == 1 ]]; then
        echo "simulator dry run: no install"
        return 0
    fi
    if ! "$PY" -m pip install -q --retries 0 --timeout 10 -e ".[cuda,test]"; then
        echo "pip install of the extras failed (offline?): installing fusegraph alone over"
        echo "the numba-cuda / CuPy / pytest already on this machine"
        "$PY" -m pip install -q --no-deps --no-build-isolation -e .
    fi
}

device_info() {
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total \
        --format=csv || echo "no nvidia-smi"
    "$PY" - <<'EOF'
import numba, numpy
from fusegraph.backends.numba_cuda import device
cuda = device.cuda_module()
print(f"numba {numba.__version__} (numba.cuda: {getattr(cuda, 'implementation', '?')}), "
      f"numpy {numpy.__version__}")
print("device:", device.device_name())
cupy, why = device.cupy_module()
print("cupy:", cupy.__version__ if cupy else f"none ({why})")
print("ptx:", device.ptx_status())
EOF
}

tests() {
    "$PY" -m pytest -p no:cacheprovider -q -rs tests/backends/test_numba_cuda.py
}

ptx() {   # (never in the simulator, which has no compiler: the dry run compiles PTX too)
    env -u NUMBA_ENABLE_CUDASIM "$PY" - "$OUT_DIR" <<'EOF'
import os, sys, time
sys.path.insert(0, "examples")
import digits
from fusegraph.backends import numba_cuda
from fusegraph.backends.numba_cuda import device

ok, reason = device.ptx_status()
print(reason)
if not ok:
    sys.exit(0 if os.environ.get("SIM") == "1" else 1)   # a dry run may lack NVVM
(x, y), _ = digits.load_data()
model = digits.build_model()
graph = model.step_graph("train_step", data=(x[:digits.BATCH_SIZE], y[:digits.BATCH_SIZE]))
start = time.perf_counter()
ptx = numba_cuda.compile_ptx_all(graph, optimize=True)
print(f"{len(ptx)} kernels compiled to PTX in {time.perf_counter() - start:.2f} s")
path = os.path.join(sys.argv[1], "digits_train_step.ptx")
with open(path, "w") as f:
    for name, text in ptx.items():
        f.write(f"// ==== {name}\n{text}\n")
for name, text in ptx.items():
    target = next((l.split()[1] for l in text.splitlines() if l.startswith(".target")), "?")
    print(f"  {name}: {len(text)} chars, .target {target}")
print("written:", path)
EOF
}

train() {
    if [[ "$SIM" == 1 ]]; then
        echo "simulator dry run: skipped (an epoch of 47 steps takes minutes in the simulator)"
        return 0
    fi
    "$PY" -m fusegraph train examples/digits.py --epochs "$EPOCHS" --backend numba_cuda
}

step_times() {
    "$PY" - "$OUT_DIR" "$STEPS" <<'EOF'
import json, os, statistics, sys, time
import numpy as np
import fusegraph as fg
sys.path.insert(0, "examples")
import digits

out_dir, steps = sys.argv[1], int(sys.argv[2])
backends = ("reference", "numba_cpu", "numba_cuda")
rng = np.random.default_rng(0)
x = rng.random((digits.BATCH_SIZE, 64), dtype=np.float32)
y = rng.integers(0, 10, digits.BATCH_SIZE).astype(np.int32)
runs = {}
for backend in backends:
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    model = digits.build_model()
    model.recompile(backend)
    start = time.perf_counter()
    loss = float(model.train_on_batch(x, y)[0])
    first = time.perf_counter() - start
    for _ in range(3):
        model.train_on_batch(x, y)
    runs[backend] = (model, first, loss)
times = {b: [] for b in backends}
for _ in range(steps):
    for backend in backends:
        start = time.perf_counter()
        runs[backend][0].train_on_batch(x, y)
        times[backend].append(time.perf_counter() - start)
exe = runs["numba_cuda"][0]._train_function.last_trace.traced_graph._executable
result = {"steps": steps, "device": exe.device, "matmul_path": exe.matmul_path,
          "last_step_counts": dict(exe.counts), "kernels": len(exe.kernels), "backends": {}}
print(f"digits MLP 64-64-10, batch {digits.BATCH_SIZE}, {steps} interleaved steps; "
      f"numba_cuda on {exe.device}, matmul on {exe.matmul_path}")
print(f"{'backend':<12} {'median ms':>10} {'1st step s':>11} {'1st loss':>10}")
for backend in backends:
    median = statistics.median(times[backend])
    _, first, loss = runs[backend]
    result["backends"][backend] = {"median_ms": median * 1e3, "first_step_s": first,
                                   "first_loss": loss}
    print(f"{backend:<12} {median * 1e3:10.3f} {first:11.3f} {loss:10.5f}")
print("last numba_cuda step:", dict(exe.counts))
ref_loss = runs["reference"][2]
for backend in backends[1:]:
    if not np.isclose(runs[backend][2], ref_loss, rtol=1e-4):
        print(f"first-step loss of {backend} differs from the reference: "
              f"{runs[backend][2]} vs {ref_loss}")
        sys.exit(1)
with open(os.path.join(out_dir, "step_times.json"), "w") as f:
    json.dump(result, f, indent=1)
EOF
}

export PY OUT_DIR SIM EPOCHS STEPS
export -f install device_info tests ptx train step_times
echo "gpu_check: $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), simulator=$SIM"
stage "install" 90 install
stage "device" 45 device_info
stage "tests on the GPU (no simulator)" 170 tests
stage "PTX of the digits train step" 60 ptx
stage "digits, $EPOCHS epochs on numba_cuda" 90 train
stage "step times" 90 step_times
echo
if ((${#FAILED[@]})); then
    echo "gpu_check: FAILED stages: ${FAILED[*]}  (log: $OUT_DIR/gpu_check.log)"
    exit 1
fi
echo "gpu_check: all stages passed (results in $OUT_DIR)"
