#!/usr/bin/env bash
# The main job: set up (if needed), then run the bimanual node graph closed loop in the embedded
# simulator in real time with the shipped policy (checkpoints/bimanual_pi06_sim, trained by
# scripts/train_bimanual.sh) and print the run report. Extra arguments go to `pi-vla launch`
# (e.g. --seed 100007 for another episode).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL=egl
mkdir -p runs
exec .venv/bin/pi-vla launch bimanual --sim --duration 20 --policy pi06_sim \
  --checkpoint checkpoints/bimanual_pi06_sim --param policy.execute_steps=35 --seed 100002 \
  --report runs/bimanual_report.json "$@"
