#!/usr/bin/env bash
# The bimanual pipeline end to end, all of it through the node graph: collect scripted demonstrations ->
# train the pi06_sim policy -> closed-loop evaluation on unseen seeds, plain and with the instruction swapped
# to the other cube. Prints the figures at the end (also in $OUT/figures.json).
#
#   bash scripts/train_bimanual.sh                 # into runs/bimanual
#   OUT=runs/x EPISODES=100 STEPS=1000 bash scripts/train_bimanual.sh
#
# A stage whose output exists is skipped, so an interrupted run continues where it stopped (rm -r $OUT to redo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL=egl
PY=.venv/bin/python
PROFILE=${PROFILE:-bimanual}
OUT=${OUT:-runs/$PROFILE}
EPISODES=${EPISODES:-200}          # demonstrations, seeds 0 .. EPISODES-1
STEPS=${STEPS:-3000}               # training steps of batch 64
LR=${LR:-1e-3}
EXECUTE_STEPS=${EXECUTE_STEPS:-35}  # actions of each 50-action chunk executed before the next takes over
THREADS=${THREADS:-1}              # torch threads: 1 is the robust choice on a shared 2-core machine
EVAL_EPISODES=${EVAL_EPISODES:-50}
EVAL_SEED=${EVAL_SEED:-100000}     # evaluation seeds EVAL_SEED .. EVAL_SEED+EVAL_EPISODES-1: never trained on
mkdir -p "$OUT"

source scripts/lib.sh

if [ ! -f "$OUT/collect.json" ]; then
  stage "collect $EPISODES $PROFILE demonstrations through the node graph"
  rm -rf "$OUT/demos"
  $PY -m pi_vla_ros.cli collect --profile "$PROFILE" --expert scripted --episodes "$EPISODES" --seed 0 \
      --out "$OUT/demos" --report "$OUT/collect.json.tmp"
  mv "$OUT/collect.json.tmp" "$OUT/collect.json"
fi

if [ ! -f "$OUT/pi06_sim/training/summary.json" ] || \
   [ "$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['steps'])" "$OUT/pi06_sim/training/summary.json")" -lt "$STEPS" ]; then
  stage "train pi06_sim for $STEPS steps"
  resume=""
  [ -f "$OUT/pi06_sim/training/state.json" ] && resume="--resume"
  $PY -m pi_vla_ros.cli train --policy pi06_sim --dataset "$OUT/demos" --out "$OUT/pi06_sim" --steps "$STEPS" \
      --batch-size 64 --lr "$LR" --threads "$THREADS" --save-every 500 $resume
fi

evaluate plain "$OUT/pi06_sim"
evaluate swapped "$OUT/pi06_sim" --swap-instruction

stage "figures"
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
c = json.loads((out / "collect.json").read_text())
t = json.loads((out / "pi06_sim/training/summary.json").read_text())
e = {m: json.loads((out / f"eval_{m}.json").read_text()) for m in ("plain", "swapped")}
fig = {
    "demos": c["episodes"], "demo_successes": c["successes"], "demo_frames": c["frames_total"],
    "collect_wall_s": c["wall_s"],
    "train_steps": t["steps"], "batch_size": t["batch_size"], "final_loss": t["final_loss"],
    "train_wall_s": t["wall_s"], "train_data_s": t["data_s"], "samples_per_s": t["samples_per_s"],
    "precision": t["precision"],
    **{f"{m}_{k}": e[m][k] for m in e for k in ("success_rate", "wrong_object_rate")},
    **{f"{m}_time_to_success_s": e[m]["time_to_success_s"]["mean"] for m in e},
    **{f"{m}_clamps_per_episode": e[m]["safety_clamps"]["mean"] for m in e},
    "eval_episodes": e["plain"]["episodes"], "eval_seeds": e["plain"]["seeds"],
}
(out / "figures.json").write_text(json.dumps(fig, indent=1))
print(f"demos: {fig['demos']} ({fig['demo_successes']} successful, {fig['demo_frames']} frames) in {fig['collect_wall_s']:.0f} s")
print(f"training: {fig['train_steps']} steps x {fig['batch_size']}, final loss {fig['final_loss']:.4f}, "
      f"{fig['train_wall_s'] / 60:.1f} min wall ({fig['train_data_s']:.0f} s data), {fig['samples_per_s']} samples/s, {fig['precision']}")
for m in ("plain", "swapped"):
    print(f"eval ({m} instruction, {fig['eval_episodes']} episodes, seeds {fig['eval_seeds']}): success "
          f"{fig[m + '_success_rate']:.0%}, wrong object {fig[m + '_wrong_object_rate']:.0%}, time to success "
          f"{fig[m + '_time_to_success_s']} s, safety clamps/episode {fig[m + '_clamps_per_episode']}")
EOF
