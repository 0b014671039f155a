#!/usr/bin/env bash
# Real-time figures of the node graph on real rclpy for the README (measured, never asserted in tests):
# the shipped bimanual policy for DURATION seconds (default 60) as one process and as one process per node (the
# policy keeps acting after the task succeeds: on_episode_end=continue, so inference runs throughout),
# then the time to collect 50 scripted demonstrations through the graph (lockstep). Reports in runs/bench/.
# Run it on an otherwise idle machine: the figures are wall-clock rates and jitter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL=egl
out=runs/bench
mkdir -p "$out"
run=(bimanual --sim --duration "${DURATION:-60}" --policy pi06_sim --checkpoint checkpoints/bimanual_pi06_sim
     --param instruction.on_episode_end=continue --seed 100002)
.venv/bin/pi-vla launch "${run[@]}" --report "$out/one_process.json"
.venv/bin/pi-vla launch "${run[@]}" --processes --report "$out/processes.json"
rm -rf "$out/demos50"
.venv/bin/pi-vla collect --profile bimanual --episodes 50 --seed 0 --out "$out/demos50" --no-progress \
  --report "$out/collect50.json"
