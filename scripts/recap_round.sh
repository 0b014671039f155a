#!/usr/bin/env bash
# One round of Recap (pi*0.6) on top of a policy trained by scripts/train_bimanual.sh, all through the node graph:
# the policy's own rollouts (successes and failures) join the demonstrations -> value function -> advantage labels ->
# advantage-conditioned fine-tuning from the policy; a control fine-tunes the same steps on the successful episodes
# only (filtered behaviour cloning). Both are evaluated on the same unseen seeds. Figures in $OUT/figures.json.
#
#   PROFILE=ur5e bash scripts/recap_round.sh      # base: runs/ur5e/pi06_sim, demos: runs/ur5e/demos
#
# A stage whose output exists is skipped (rm -r $OUT to redo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MUJOCO_GL=egl
PY=.venv/bin/python
PROFILE=${PROFILE:-ur5e}
BASE=${BASE:-runs/$PROFILE/pi06_sim}
DEMOS=${DEMOS:-runs/$PROFILE/demos}
OUT=${OUT:-runs/recap_$PROFILE}
ROLLOUTS=${ROLLOUTS:-150}             # rollout seeds 300000 .. (never used for demos or evaluation)
EXECUTE_STEPS=${EXECUTE_STEPS:-16}    # the cadence the rollouts and evaluations run at
TAKEOVER=${TAKEOVER:-}                # corrections: the scripted expert takes over episodes unfinished after S s
HUMAN_EPISODES=${HUMAN_EPISODES:-}    # e.g. 0-199: label the demonstrations as human data (always positive)
STEPS=${STEPS:-1500}                  # fine-tuning steps of batch 64 (Recap and the control alike)
LR=${LR:-3e-4}
EVAL_EPISODES=${EVAL_EPISODES:-50}
EVAL_SEED=${EVAL_SEED:-100000}
mkdir -p "$OUT"
source scripts/lib.sh

if [ ! -f "$OUT/rollouts.json" ]; then
  stage "the base policy's own rollouts ($ROLLOUTS, execute $EXECUTE_STEPS), appended to a copy of the demos"
  rm -rf "$OUT/data"
  cp -r "$DEMOS" "$OUT/data"
  rm -rf "$OUT/data/bags"
  $PY -m pi_vla_ros.cli collect --profile "$PROFILE" --policy "$BASE" --param policy.execute_steps="$EXECUTE_STEPS" \
      --episodes "$ROLLOUTS" --seed 300000 --out "$OUT/data" --no-bags --report "$OUT/rollouts.json.tmp" \
      ${TAKEOVER:+--takeover-after "$TAKEOVER"}
  mv "$OUT/rollouts.json.tmp" "$OUT/rollouts.json"
fi
[ -f "$OUT/value/summary.json" ] || { stage "value function"; $PY -m pi_vla_ros.cli recap value --dataset "$OUT/data" --out "$OUT/value"; }
[ -f "$OUT/labels.parquet" ] || { stage "advantage labels"; $PY -m pi_vla_ros.cli recap label --dataset "$OUT/data" \
    --value "$OUT/value" --out "$OUT/labels.parquet" ${HUMAN_EPISODES:+--human-episodes "$HUMAN_EPISODES"} > "$OUT/labels.json"; }

train() {  # name, extra args
  local name=$1; shift
  if [ ! -f "$OUT/$name/training/summary.json" ]; then
    stage "fine-tune: $name"
    $PY -m pi_vla_ros.cli train --policy pi06_sim --dataset "$OUT/data" --init "$BASE" --out "$OUT/$name" \
        --steps "$STEPS" --lr "$LR" --warmup-steps 100 --batch-size 64 --threads 1 "$@"
  fi
}
train recap --advantages "$OUT/labels.parquet"
train filtered_bc

evaluate recap "$OUT/recap"
evaluate filtered_bc "$OUT/filtered_bc"

stage "figures"
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
r = json.loads((out / "rollouts.json").read_text())
v = json.loads((out / "value/summary.json").read_text())
lab = json.loads((out / "labels.json").read_text())
fig = {"rollouts": r["episodes"], "rollout_successes": r["successes"], "corrections": r.get("corrections", 0),
       "value": {k: v[k] for k in (
    "heldout_corr", "heldout_mae", "mean_v_success", "mean_v_failure", "wall_s")},
    "labels": {k: lab[k] for k in ("positive_fraction", "positive_in_success", "positive_in_failure")}}
for name in ("recap", "filtered_bc"):
    t = json.loads((out / name / "training/summary.json").read_text())
    e = json.loads((out / f"eval_{name}.json").read_text())
    fig[name] = {"episodes_trained_on": t["episodes"], "train_wall_s": t["wall_s"], "success_rate": e["success_rate"],
                 "wrong_object_rate": e["wrong_object_rate"], "time_to_success_s": e["time_to_success_s"]["mean"],
                 "clamps_per_episode": e["safety_clamps"]["mean"]}
(out / "figures.json").write_text(json.dumps(fig, indent=1))
print(json.dumps(fig, indent=1))
EOF
