# Shared by the pipeline scripts (sourced): stage headers and resumable closed-loop evaluations.
# Expects PY, PROFILE, OUT, EVAL_EPISODES, EVAL_SEED and EXECUTE_STEPS to be set.

stage() { echo; echo "=== $* ==="; }

# evaluate NAME CHECKPOINT [pi-vla eval flags...]: into $OUT/eval_NAME.json and $OUT/eval_NAME/; skipped when done
evaluate() {
  local name=$1 policy=$2
  shift 2
  [ -f "$OUT/eval_$name.json" ] && return 0
  stage "evaluate $name on $EVAL_EPISODES unseen seeds (execute $EXECUTE_STEPS) $*"
  $PY -m pi_vla_ros.cli eval --profile "$PROFILE" --policy "$policy" --episodes "$EVAL_EPISODES" \
      --seed "$EVAL_SEED" --param policy.execute_steps="$EXECUTE_STEPS" --out "$OUT/eval_$name" \
      --report "$OUT/eval_$name.json.tmp" "$@" >/dev/null
  mv "$OUT/eval_$name.json.tmp" "$OUT/eval_$name.json"
}
