# Shared by the set-up scripts: find Python, install missing Debian packages.
# shellcheck shell=bash

# The Debian packages icpwatch needs at run time: Chromium for the rendered checks (the headless
# shell is the same engine without a window to paint, half the CPU a page), CJK fonts for
# rendered pages and images (and, later, for PDFs and charts).
RUNTIME_PACKAGES=(ca-certificates fonts-noto-cjk chromium chromium-headless-shell libpango-1.0-0 libpangoft2-1.0-0 tesseract-ocr tesseract-ocr-chi-sim)
# What the test suite needs beyond that: curl and dig are clients the sandbox is checked with,
# pdftoppm and pdffonts (poppler-utils) check the PDFs' Chinese glyphs.
TEST_PACKAGES=(curl poppler-utils dnsutils)
# What the benchmarks drive the sandbox with.
BENCHMARK_PACKAGES=(wrk dnsperf)

ensure_debian_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    echo "icpwatch needs these Debian packages: ${missing[*]} (no apt-get here: install them by hand)" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Use the active virtual environment, or the machine's Python when pip may install into it;
# on a Python that is "externally managed" (Debian's own), make .venv and use that.
choose_python() {
  PYTHON=${PYTHON:-python3}
  if [ -z "${VIRTUAL_ENV:-}" ]; then
    local stdlib
    stdlib=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')
    if [ -e "$stdlib/EXTERNALLY-MANAGED" ]; then
      [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
      PYTHON="$PWD/.venv/bin/python"
      echo "Using the virtual environment .venv (activate it with: . .venv/bin/activate)" >&2
    fi
  fi
  export PYTHON
}
