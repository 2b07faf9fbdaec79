#!/usr/bin/env bash
# The KV-plan measurements of docs/results.md, following the README's default flow on a model from ../shared/models:
# calibrate probes (default lengths) next to the model's own calibration ids, profile (optionally --sensitivity),
# one plan per method, each evaluated on held-out data the plans never saw (with its uniform baseline).
#   stories260k : KV 0.5 for length 256, held out: 16 self-generated samples of 256 tokens (seed 1)
#   retrieval-lm: KV 0.3 for length 400, held out: repeat probes copied at distances 100, 200 and 300 (seed 999)
# Usage: [PLANS="moa duo"] tools/measure-plans.sh stories260k|retrieval-lm OUT_DIR [--sensitivity]
# PLANS (plan ids: moa, moa-query-head, duo, razor, razor-none, h2o) restricts the plans; default: all of the model's.
# Prints one line per plan (evaluate's own output) and writes OUT_DIR/summary.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HW="$ROOT/headwise"
NAME="$1"; OUT="$2"; SENS="${3:-}"
SHARED="$ROOT/../shared/models/$NAME"
mkdir -p "$OUT"
W="$OUT/warehouse"
case "$NAME" in
  stories260k) MODEL="$SHARED/stories260k.onnx"; F=0.5; N=256 ;;
  retrieval-lm) MODEL="$SHARED/retrieval_lm.onnx"; F=0.3; N=400 ;;
  *) echo "unknown model $NAME" >&2; exit 2 ;;
esac
python3 - "$SHARED/calib_ids.json" "$OUT/calib.jsonl" <<'PY'
import json, sys
ids = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for i, seq in enumerate(ids):
        f.write(json.dumps({"sample_id": "calib-%d" % i, "input_ids": seq}) + "\n")
PY
"$HW" calibrate --model "$MODEL" --probes repeat,passkey --seed 0 --out "$OUT/probes.jsonl"
if [ "$NAME" = stories260k ]; then
  "$HW" calibrate --model "$MODEL" --probes self --count 16 --probe-length 256 --seed 1 --out "$OUT/held-out.jsonl"
else
  : > "$OUT/held-out.jsonl"
  for d in 100 200 300; do
    "$HW" calibrate --model "$MODEL" --probes repeat --count 6 --repeat-period "$d" --repeat-count 2 \
      --probe-length $((2 * d + 1)) --id-range 2:512 --seed $((999 + d)) --out "$OUT/held-out-$d.jsonl"
    cat "$OUT/held-out-$d.jsonl" >> "$OUT/held-out.jsonl"
  done
fi
"$HW" profile --model "$MODEL" --calibration "$OUT/calib.jsonl" --calibration "$OUT/probes.jsonl" \
  --warehouse "$W" --run-id s $SENS
: > "$OUT/summary.txt"
# every evaluation also evaluates the uniform StreamingLLM plan at the same KV fraction (its baseline row)
DEFAULT_PLANS="moa moa-query-head duo razor h2o"
[ "$NAME" = retrieval-lm ] && DEFAULT_PLANS="moa duo razor"
PLANS="${PLANS:-$DEFAULT_PLANS}"
for P in $PLANS; do
  METHOD="${P%%-*}"
  OPTS=()
  [ "$P" = moa-query-head ] && OPTS=(--option granularity=query_head)
  [ "$P" = razor-none ] && OPTS=(--option compensation=none)
  "$HW" plan --method "$METHOD" --warehouse "$W" --stats-run s --kv-fraction "$F" --length "$N" --plan-id "$P" \
    "${OPTS[@]}" | tee -a "$OUT/summary.txt"
  "$HW" evaluate --model "$MODEL" --warehouse "$W" --plan-id "$P" --samples "$OUT/held-out.jsonl" \
    --run-id "e-$P" | tee -a "$OUT/summary.txt"
done
