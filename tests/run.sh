#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit + multi-process).
#   tests/run.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/launch/setup.sh" "$root/build"
cd "$root/build"
ctest --output-on-failure -j2 --timeout 300
