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

# The main job: a sandbox world generated, its registry loaded, served on loopback, swept, and
# its findings and the points they carry shown (outputs under ./icpwatch-demo/).
if [ "$(id -u)" -eq 0 ]; then
  "$ICPWATCH" demo
else  # the demo's world listens on ports 80 and 443 of 127.x addresses
  sudo -E "$ICPWATCH" demo
fi
