#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is missing, build, and run a local
# cluster doing real work (a self-verifying push/pull check, then the push/pull benchmark).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/launch/setup.sh" "$root/build"
echo "== kvcheck: 1 scheduler + 1 server + 2 workers verify every push and pull"
"$root/launch/local.sh" --servers 1 --workers 2 -- kvcheck
echo "== bench: push/pull throughput, 1 server + 1 worker, 64 floats/key"
"$root/launch/local.sh" --servers 1 --workers 1 -- bench --val_len=64 --batch_keys=10000 --seconds=2
