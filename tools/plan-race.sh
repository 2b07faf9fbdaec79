#!/usr/bin/env bash
# The "Done when" repro of issue 17: three `./headwise plan` processes (streamingllm, moa, duo) at once on one
# warehouse holding one stories260k profile, ROUNDS times on a new attention_plans table (a fresh copy of the
# profiled warehouse each round) and ROUNDS times on an existing one (a plan written first; each round adds three
# plan ids). Per round it records every process's exit code, whether its stderr holds a Java stack trace (a line
# "\tat ...(") and the plan ids in attention_plans after the round (a copy of the warehouse is kept per round), as
# stored and as readers see them, read at the end by tools/PlanIds.java (plain Spark + Delta, no headwise code; one
# JVM for every copy). Prints a Markdown table (also OUT/results.md); each process's output is in OUT/*.out|err.
#
#   tools/plan-race.sh OUT_DIR [ROUNDS]      (default 5 rounds; every Spark process runs on local[1])
#
# The profile is small on purpose (2 samples of 64 tokens) to save time: the race is in the plan steps' commits.
# Uses the worktree's build (./headwise builds on first use; HEADWISE_SKIP_BUILD=1 skips that check).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: tools/plan-race.sh OUT_DIR [ROUNDS]}"
ROUNDS="${2:-5}"
MODEL="$ROOT/../shared/models/stories260k/stories260k.onnx"
METHODS=(streamingllm moa duo)
export HEADWISE_JAVA_OPTS="${HEADWISE_JAVA_OPTS:--Xmx1g}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
LAUNCHER="$ROOT/jobs/target/launcher"

hw() { "$ROOT/headwise" "$@" --master 'local[1]'; }

# one round: the three plans at once on warehouse $1 with plan ids prefixed $2; keeps a copy of the warehouse
# in $OUT/after-$3 and appends "label|codes|traces|seconds" to $OUT/rounds
round() {
  local wh="$1" prefix="$2" label="$3" pids=() codes="" traces="" started=$SECONDS
  for m in "${METHODS[@]}"; do
    hw plan --method "$m" --warehouse "$wh" --stats-run s --kv-fraction 0.5 --length 256 \
      --plan-id "${prefix}_$m" > "$OUT/$label-$m.out" 2> "$OUT/$label-$m.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    codes+="${codes:+ }${METHODS[$i]}=$?"
    if grep -qP '^\tat \S+\(' "$OUT/$label-${METHODS[$i]}.err"; then traces+="${traces:+ }${METHODS[$i]}"; fi
  done
  rm -rf "$OUT/after-$label" && cp -a "$wh" "$OUT/after-$label"
  echo "$label|$codes|${traces:-none}|$((SECONDS - started))" | tee -a "$OUT/rounds" >&2
}

python3 - "$ROOT/../shared/models/stories260k/calib_ids.json" "$OUT/calib.jsonl" <<'PY'
import json, sys
ids = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    for i, s in enumerate(ids[:2]):
        f.write(json.dumps({"sample_id": f"s{i}", "input_ids": s[:64]}) + "\n")
PY
: > "$OUT/rounds"
rm -rf "$OUT/base"
hw profile --model "$MODEL" --calibration "$OUT/calib.jsonl" --warehouse "$OUT/base" --run-id s --threads 1 \
  > "$OUT/profile.out" 2> "$OUT/profile.err" || { echo "profile failed: $OUT/profile.err" >&2; exit 1; }
for r in $(seq 1 "$ROUNDS"); do
  rm -rf "$OUT/new$r" && cp -a "$OUT/base" "$OUT/new$r"
  round "$OUT/new$r" c "new$r"
done
rm -rf "$OUT/existing" && cp -a "$OUT/base" "$OUT/existing"
hw plan --method dense --warehouse "$OUT/existing" --stats-run s --kv-fraction 1 --length 256 --plan-id first \
  > "$OUT/first.out" 2> "$OUT/first.err" || { echo "first plan failed: $OUT/first.err" >&2; exit 1; }
for r in $(seq 1 "$ROUNDS"); do
  round "$OUT/existing" "c$r" "existing$r"
done

read -r -a opens < "$LAUNCHER/jvm-options"
dirs=()
while IFS='|' read -r label _ _ _; do dirs+=("$OUT/after-$label"); done < "$OUT/rounds"
java -Xmx1g "${opens[@]}" -Dlog4j2.configurationFile=classpath:headwise-log4j2.properties \
  -cp "$ROOT/jobs/target/classes:$(cat "$LAUNCHER/compile.classpath"):$(cat "$LAUNCHER/runtime.classpath")" \
  "$ROOT/tools/PlanIds.java" "${dirs[@]}" 2> "$OUT/planids.err" | grep '/after-' > "$OUT/planids"
{
  echo "| round | exit codes | stack trace on stderr | attention_plans after the round (tools/PlanIds.java) | wall |"
  echo "| --- | --- | --- | --- | --- |"
  while IFS='|' read -r label codes traces secs; do
    echo "| $label | $codes | $traces | $(grep "/after-$label " "$OUT/planids" | cut -d' ' -f2-) | $secs s |"
  done < "$OUT/rounds"
} | tee "$OUT/results.md"
