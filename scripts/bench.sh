#!/usr/bin/env bash
# Runs the benchmarks (each prints what it measured as JSON). Pass names to run only some:
#   scripts/bench.sh registry sandbox_web
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_debian_packages "${RUNTIME_PACKAGES[@]}" "${BENCHMARK_PACKAGES[@]}"
choose_python
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[bench]"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(registry sandbox_dns sandbox_web)
for name in "${names[@]}"; do
  echo "== benchmarks/bench_$name.py" >&2
  "$PYTHON" "benchmarks/bench_$name.py"
done
