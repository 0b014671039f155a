#!/usr/bin/env bash
# The main job: set up (if needed), then run the bimanual node graph closed loop in the embedded
# simulator in real time and print the run report. Extra arguments go to `pi-vla launch`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL=egl
mkdir -p runs
exec .venv/bin/pi-vla launch bimanual --sim --duration 20 --allow-untrained --report runs/bimanual_report.json "$@"
