#!/usr/bin/env bash
# Installs the Debian packages embark needs (skipping those present) and builds it.
#   launch/setup.sh [build-dir]      (default: build/ at the repository root)
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build="${1:-$root/build}"

packages=(g++ cmake ninja-build pkg-config openmpi-bin libopenmpi-dev libzmq3-dev cppzmq-dev
          libeigen3-dev libcereal-dev libgflags-dev libgoogle-glog-dev libgtest-dev googletest
          libcpp-httplib-dev libhnswlib-dev nlohmann-json3-dev zlib1g-dev gnuplot-nox
          librdkafka-dev kcat openssl
          clang-14 libclang-rt-14-dev llvm-14)  # the fuzz targets (libFuzzer) and llvm-symbolizer
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build"
