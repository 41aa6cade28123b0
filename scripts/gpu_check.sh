#!/usr/bin/env bash
# The GPU checks in one command, for a machine with an NVIDIA GPU and a CUDA build of PyTorch
# (the device machine's python3 has torch, scikit-learn, sacrebleu, pytest and hypothesis).
# Runs the engine test suites with MLENB_TEST_DEVICE=cuda (not the slow CPU quality runs, not the
# browser), then the benchmarks on cuda; logs go to $OUT (the device tool's folder) or artifacts/gpu.
# The peers the benchmarks compare against (zuko, normflows, nflows, fastchrf) are not in the device
# image: fetch them first with scripts/gpu_wheels.sh, and carry ".whl".
#
#   scripts/gpu_wheels.sh                                   # here, once
#   device run: command "scripts/gpu_check.sh", carry [".whl"], timeout_s 560
#   usage: scripts/gpu_check.sh [--quick]                   # --quick: small benchmark sizes, a smoke test
#
# Measured on CPU, the benchmarks alone take about 4 minutes at full size; on the GPU the scikit-learn
# and sacrebleu baselines (CPU, one thread) are most of that. The tests run first: their log is what
# matters if the time runs out.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-artifacts/gpu}; mkdir -p "$out"
py=${PYTHON:-python3}
quick=${1:-}
if compgen -G ".whl/*.whl" >/dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/mlenb-site .whl/*.whl && export PYTHONPATH=/tmp/mlenb-site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}     # this checkout's mlenb, not installed
export MLENB_TEST_DEVICE=cuda PYTHONUNBUFFERED=1
status=0
{ nvidia-smi -L; $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$out/device.txt"
par=(); $py -c "import xdist, pytest_timeout" 2>/dev/null && par=(-n 4 --timeout 300)   # both are in the device image
$py -m pytest -q -p no:cacheprovider -m "not slow and not browser" "${par[@]}" \
    tests/test_data.py tests/test_em*.py tests/test_flows*.py tests/test_lm*.py tests/test_decoding*.py 2>&1 | tee "$out/tests.log" || status=1
run() { echo "== $*" | tee -a "$out/bench.log"; $py "$@" 2>&1 | tee -a "$out/bench.log" || status=1; }
run bench/flows_vs_peers.py --device cuda $quick           # the CUDA-graph step against zuko, batches 512 and 65,536
run bench/mbr_vs_peers.py --device cuda $quick             # chrF matrix at N=1,024 in under 0.2 s
run bench/em_vs_sklearn.py --device cuda --restarts --large $quick   # 100x scikit-learn; 16 restarts < 4x one; N=10M
exit $status
