#!/usr/bin/env bash
# The GPU check of the bundle `cargo xtask gpu-bundle` builds: on a machine with an NVIDIA GPU and
# its driver, from this folder alone (bash and python3; the PyTorch twin of the benchmark needs
# torch, transformers and peft in that python3).
#
#   ./run.sh                       every part: tests, example, bench, kernels (about 8 minutes at most)
#   ./run.sh --parts bench,kernels some parts again
#   ./run.sh --cpu-smoke           on a machine without a GPU: unpacks, starts every executable
#   ./run.sh --budget 300          stop starting new steps after 300 s (default 470)
#
# Logs and results go to $OUT when it is set (the device tool's output folder), else ./results;
# the table at the end is also written to summary.md there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$here/gpu_check.py" --bundle "$here" "$@"
