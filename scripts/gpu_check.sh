#!/usr/bin/env bash
# The GPU checks in one command, for a machine with an NVIDIA GPU and a CUDA build of PyTorch
# (the device machine's python3 has torch, scikit-learn, sacrebleu, pytest and hypothesis).
# Runs the engine test suites with MLENB_TEST_DEVICE=cuda, then the benchmarks on cuda; logs go to
# $OUT (the device tool's folder) or artifacts/gpu. Missing pure-Python packages can travel as
# wheels in .whl/ (see the device tool's README).
#   usage: scripts/gpu_check.sh [--quick]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-artifacts/gpu}; mkdir -p "$out"
py=${PYTHON:-python3}
quick=${1:-}
if compgen -G ".whl/*.whl" >/dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --target /tmp/mlenb-site .whl/*.whl && export PYTHONPATH=/tmp/mlenb-site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}     # this checkout's mlenb, not installed
export MLENB_TEST_DEVICE=cuda PYTHONUNBUFFERED=1
status=0
{ nvidia-smi -L; $py -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$out/device.txt"
$py -m pytest -q -p no:cacheprovider -x tests/test_data.py tests/test_em*.py tests/test_flows*.py tests/test_lm*.py tests/test_decoding*.py 2>&1 | tee "$out/tests.log" || status=1
for b in bench/em_vs_sklearn.py bench/flows_vs_peers.py bench/mbr_vs_peers.py; do
  [ -f "$b" ] || continue
  echo "== $b --device cuda $quick" | tee -a "$out/bench.log"
  $py "$b" --device cuda $quick 2>&1 | tee -a "$out/bench.log" || status=1
done
exit $status
