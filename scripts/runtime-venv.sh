#!/usr/bin/env bash
# A Python environment with the runtime dependencies only, installed as the Docker image installs
# them (requirements.lock, no test tools): what a deployed worker holds in memory. The memory
# benchmarks run their workers with it (--python); prints the interpreter's path.
#
#   bash scripts/runtime-venv.sh [DIR]      (default: /tmp/shopme-runtime)
set -euo pipefail
dir="${1:-/tmp/shopme-runtime}"
cd "$(dirname "$0")/.."
if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir"
fi
"$dir/bin/pip" install -q --disable-pip-version-check --no-deps -r requirements.lock >&2
"$dir/bin/pip" check >&2
echo "$dir/bin/python"
