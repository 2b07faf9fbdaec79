#!/usr/bin/env bash
# The fault-matrix table of docs/fault-matrix.md from a test run's output: every fault-matrix test row prints one line
# "fault-matrix | case | command | exit | stderr | warehouse afterwards |" (jobs/src/test/.../FaultMatrixRows.java).
#
#   ./mvnw -o -B -pl jobs -am test -Dtest='FaultMatrix*' -Dsurefire.failIfNoSpecifiedTests=false | tee fm.log
#   tools/fault-matrix-doc.sh fm.log [more.log ...]     # prints the Markdown table
#
# Reads Maven console output or jobs/target/surefire-reports/*-output.txt; a row seen twice is printed once.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: tools/fault-matrix-doc.sh LOG..." >&2; exit 2; }
echo "| case | command | exit | stderr (observed) | warehouse afterwards (observed) |"
echo "| --- | --- | --- | --- | --- |"
grep -h '^fault-matrix | ' "$@" | sed 's/^fault-matrix //' | awk '!seen[$0]++'
