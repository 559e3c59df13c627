#!/usr/bin/env bash
# Installs icpwatch and everything it needs on a fresh Debian machine, then runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_debian_packages "${RUNTIME_PACKAGES[@]}"
choose_python
"$PYTHON" -m pip install --quiet --disable-pip-version-check -e .
ICPWATCH="$("$PYTHON" -c 'import sys, os; print(os.path.join(os.path.dirname(sys.executable), "icpwatch"))')"
[ -x "$ICPWATCH" ] || ICPWATCH=icpwatch

# The main job: load the example registry and look a domain, an address and a number up in it.
export ICPWATCH_DB=${ICPWATCH_DB:-sqlite:///$PWD/icpwatch-demo.sqlite3}
for kind in providers ip-ranges domains blacklist filings; do
  "$ICPWATCH" registry import "$kind" "examples/$kind.csv"
done
"$ICPWATCH" registry lookup https://www.qinghe-media.cn/about
"$ICPWATCH" registry lookup 198.51.100.30
"$ICPWATCH" registry lookup '京ICP备2021000001号-2'
