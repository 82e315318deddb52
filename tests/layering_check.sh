#!/usr/bin/env bash
# The include graph between the source folders, and the check that keeps it one-way.
#
#   tests/layering_check.sh [ROOT]           check: every #include "a/b.h" in a file of folder F
#                                            names a folder F may use (the embark_layer() table
#                                            in ROOT/CMakeLists.txt); exits 1 naming each edge
#                                            that is not allowed
#   tests/layering_check.sh --edges [ROOT]   print the folder -> folder edges with their counts
#   tests/layering_check.sh --self-test      the check, then the check on a copy of the tree with
#                                            one backward include added (which must fail)
#   tests/layering_check.sh --view LAYERS CXX   the build's side: in the include view of models
#                                            (LAYERS/models, made by CMakeLists.txt) a models
#                                            header compiles and a worker header is not found
#
# The build refuses a backward include in any file it compiles (each layer's library sees only
# the headers of the layers below it); this check also covers headers that only higher layers
# include, whose backward include the compiler would find (and so accept) in the includer's view.
# tests/ and fuzz/ may include every layer; a folder missing from the table fails the check.
set -euo pipefail

mode=check
case "${1:-}" in
  --edges) mode=edges; shift ;;
  --self-test) mode=self; shift ;;
  --view) mode=view; shift; layers=$1; cxx=$2; shift 2 ;;
esac
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
root="$(cd "${1:-$(dirname "$self")/..}" && pwd)"

# "FROM TO FILE" for every quoted include of another folder's file.
edges() {
  (cd "$root" && find . -path ./build -prune -o -path './build-*' -prune -o -path ./.git -prune -o \
      \( -name '*.cc' -o -name '*.h' \) -print | sed 's|^\./||' | sort |
    while read -r f; do
      case "$f" in */*) ;; *) continue ;; esac
      from=${f%%/*}
      sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"/]+)\/[^"]+".*/\1/p' "$f" |
        while read -r to; do
          [ "$from" = "$to" ] || echo "$from $to $f"
        done
    done)
}

if [ "$mode" = edges ]; then
  edges | awk '{print $1 " -> " $2}' | sort | uniq -c | awk '{printf "%4d  %s %s %s\n", $1, $2, $3, $4}'
  exit 0
fi

if [ "$mode" = view ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  printf '#include "models/model_description.h"\n' >"$tmp/down.cc"
  printf '#include "worker/trainer.h"\n' >"$tmp/up.cc"
  "$cxx" -std=c++17 -fsyntax-only -I "$layers/models" "$tmp/down.cc" || {
    echo "layering_check: a models header does not compile in the models view $layers/models" >&2
    exit 1
  }
  if "$cxx" -std=c++17 -fsyntax-only -I "$layers/models" "$tmp/up.cc" 2>"$tmp/err"; then
    echo "layering_check: worker/trainer.h is visible from the models view: a backward include would build" >&2
    exit 1
  fi
  grep -q "worker/trainer.h" "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  echo "layering_check: the models view builds its own headers and does not see worker/"
  exit 0
fi

if [ "$mode" = self ]; then
  "$self" "$root"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  cp -r "$root/CMakeLists.txt" "$root/core" "$root/models" "$tmp/"
  # The ground layer including the model interface: the kind of edge the layers forbid.
  printf '#include "models/model.h"\n' >>"$tmp/core/status.h"
  if out="$("$self" "$tmp" 2>&1)"; then
    echo "layering_check: a backward include (core -> models) was not caught" >&2
    exit 1
  fi
  grep -q "core/status.h includes models/" <<<"$out" || {
    echo "layering_check: the backward include was refused without naming it: $out" >&2
    exit 1
  }
  echo "layering_check: self-test ok (the injected core -> models include is refused)"
  exit 0
fi

# The table: embark_layer(NAME [DEPS] ...) in CMakeLists.txt, one call per line; a layer may use
# the layers it lists and, through them, everything they may use.
declare -A direct
while read -r name deps; do
  direct[$name]="$deps"
done < <(sed -nE 's/^[[:space:]]*embark_layer\(([a-z_]+)[[:space:]]*(.*)\).*/\1 \2/p' "$root/CMakeLists.txt")
[ "${#direct[@]}" -gt 0 ] || { echo "layering_check: no embark_layer() table in $root/CMakeLists.txt" >&2; exit 1; }

declare -A closure
close() {  # closure[$1] = $1's layers, transitively
  local name=$1 dep all=""
  [ -n "${closure[$name]+x}" ] && return
  for dep in ${direct[$name]}; do
    close "$dep"
    all="$all $dep ${closure[$dep]}"
  done
  closure[$name]="$all"
}
for name in "${!direct[@]}"; do close "$name"; done

bad=0
while read -r from to file; do
  case "$from" in tests|fuzz) continue ;; esac
  if [ -z "${direct[$from]+x}" ]; then
    echo "layering_check: $file: folder $from/ is not in the embark_layer() table" >&2
    bad=1
    continue
  fi
  case " ${closure[$from]} " in
    *" $to "*) ;;
    *) echo "layering_check: $file includes $to/ (layer $from may use:${closure[$from]:- nothing})" >&2
       bad=1 ;;
  esac
done < <(edges)
[ "$bad" = 0 ] || exit 1
echo "layering_check: every include goes down the layers"
