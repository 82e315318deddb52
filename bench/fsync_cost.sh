#!/usr/bin/env bash
# The cost of durable checkpoints: seconds per GiB written with and without fsync, on the file
# system of DIR (default: /tmp). Builds embark_fsync_bench if needed.
#   bench/fsync_cost.sh [DIR] [total_mb=1024] [file_mb=64]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/build/bin/embark_fsync_bench"
[ -x "$bin" ] || ninja -C "$root/build" embark_fsync_bench >/dev/null
dir="${1:-/tmp}"
work="$(mktemp -d "$dir/embark-fsync-XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$bin" "$work" "${2:-1024}" "${3:-64}"
