#!/usr/bin/env bash
# Fetch the peers the GPU benchmarks compare against (absent from the device machine's image) as wheels
# for its Python (3.12, x86_64), into .whl/ (ignored by git). The device tool carries them: name ".whl" in
# `carry`, and scripts/gpu_check.sh installs them into /tmp/mlenb-site first.
#   usage: scripts/gpu_wheels.sh        (here, where pip reaches the package registry)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
mkdir -p .whl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
$py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" -d .whl \
    zuko==1.6.0 fastchrf==0.2.1
$py -m pip wheel -q --no-deps -w .whl normflows==1.7.3 nflows==0.14     # sources only on PyPI; pure Python, so any wheel fits
ls -la .whl
