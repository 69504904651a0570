#!/usr/bin/env bash
# Build the native engine with AddressSanitizer + UndefinedBehaviorSanitizer as a
# standalone program (native/tests/sanitize_main.cpp; no Python, no pybind11) and run it
# over the test designs (ordinary and degenerate) and the lme4 fixture data.
#
#   scripts/sanitize.sh [SIMULATIONS_PER_DESIGN]      (default 40)
#
# Exits non-zero on any sanitizer report (-fno-sanitize-recover=all makes every report
# fatal) or engine-level problem.  Env: CXX (default g++), BUILD_DIR (default
# build/sanitize).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cxx="${CXX:-g++}"
build="${BUILD_DIR:-$root/build/sanitize}"
sims="${1:-40}"
mkdir -p "$build"

sources=()
for f in "$root"/native/*.cpp; do
  [[ "$(basename "$f")" == bindings*.cpp ]] || sources+=("$f")
done

echo "== building with -fsanitize=address,undefined ($cxx)"
"$cxx" -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=address,undefined -fno-sanitize-recover=all \
  -Wall -Wextra -I"$root/native" \
  "${sources[@]}" "$root/native/tests/sanitize_main.cpp" \
  -o "$build/sanitize_main" -pthread

echo "== running ($sims simulations per design and method)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
"$build/sanitize_main" "$root/tests/data/lme4" "$sims"
echo "== clean: no AddressSanitizer or UndefinedBehaviorSanitizer report"
