#!/usr/bin/env bash
# Installs the test dependencies and runs the whole suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_debian_packages "${RUNTIME_PACKAGES[@]}" ${TEST_PACKAGES[@]+"${TEST_PACKAGES[@]}"}
choose_python
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[test]"
exec "$PYTHON" -m pytest "$@"
