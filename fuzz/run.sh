#!/usr/bin/env bash
# Build and run the libFuzzer harness for Sources/CImageCodecs.
#
#   fuzz/run.sh [SECONDS] [JOBS]     (defaults: 60 seconds, 1 job)
#
# Builds fuzz/decoders_fuzzer with clang (-fsanitize=fuzzer,address,undefined), seeds
# fuzz/corpus/ from the test fixtures plus the JPEGs fuzz/make_seeds.c writes (RGB, YCCK,
# two-component, arithmetic, a 2,090-scan progressive file), fuzzes for SECONDS with one
# process (JOBS=1) or libFuzzer's fork mode (JOBS>1), then prints one summary line.
# Exits non-zero when libFuzzer fails or leaves a crash-/leak-/timeout-/oom- artifact.
# Environment: CC (default clang), FUZZ_EXTRA_ARGS (appended to the libFuzzer command).
set -euo pipefail

SECONDS_TO_RUN="${1:-60}"
JOBS="${2:-1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SRC="$ROOT/Sources/CImageCodecs"
BIN="$HERE/decoders_fuzzer"
CORPUS="$HERE/corpus"
CC="${CC:-clang}"

echo "== build ($("$CC" --version | head -n1))"
BUILD_LOG="$(mktemp)"
# ld.gold prints ~150 harmless "Cannot export local symbol '__asan_..._asm'" warnings.
if ! "$CC" -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$SRC/include" -I"$SRC" \
    "$HERE/decoders_fuzzer.c" "$SRC/decoder.c" "$SRC/jpeg_decoder.c" "$SRC/png_decoder.c" \
    -ljpeg -lpng16 -lz -o "$BIN" >"$BUILD_LOG" 2>&1 ||
   ! "$CC" -O1 "$HERE/make_seeds.c" -ljpeg -o "$HERE/make_seeds" >>"$BUILD_LOG" 2>&1; then
    cat "$BUILD_LOG"
    rm -f "$BUILD_LOG"
    echo "== SUMMARY: build failed" >&2
    exit 2
fi
grep -v "Cannot export local symbol" "$BUILD_LOG" || true
rm -f "$BUILD_LOG"

echo "== seed corpus"
mkdir -p "$CORPUS"
shopt -s nullglob
seeds=0
for f in "$ROOT"/Tests/Fixtures/images/*.jpg "$ROOT"/Tests/Fixtures/images/*.png \
         "$ROOT"/Tests/FastVimImagesTests/Resources/*.jpg "$ROOT"/Tests/FastVimImagesTests/Resources/*.png; do
    # Name seeds by content so that reruns do not duplicate them.
    cp -f "$f" "$CORPUS/seed-$(sha1sum "$f" | cut -c1-16)-$(basename "$f")"
    seeds=$((seeds + 1))
done
shopt -u nullglob
"$HERE/make_seeds" "$CORPUS"
seeds=$((seeds + 8))
echo "seeded $seeds files; corpus now holds $(find "$CORPUS" -type f | wc -l) inputs"

STAMP="$(mktemp)"
LOG="$(mktemp /tmp/decoders_fuzzer.XXXXXX.log)"
args=(-max_len=262144 -rss_limit_mb=2048 -timeout=10 -max_total_time="$SECONDS_TO_RUN"
      -print_final_stats=1 -dict="$HERE/decoders.dict" -artifact_prefix="$HERE/")
if [ "$JOBS" -gt 1 ]; then
    args+=(-fork="$JOBS")
fi
# shellcheck disable=SC2206
extra=(${FUZZ_EXTRA_ARGS:-})

echo "== fuzz for ${SECONDS_TO_RUN}s with $JOBS job(s); log: $LOG"
set +e
# ASan's leak check runs at exit; UBSan reports abort (-fno-sanitize-recover) and count as crashes.
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
    "$BIN" "${args[@]}" "${extra[@]}" "$CORPUS" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e

# (grep finds nothing in some modes; || true keeps set -e/pipefail from ending the script.)
# Executions: print_final_stats in single-process mode, the last "#N" status line in fork mode.
execs="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$LOG" | tail -n1 | awk '{print $2}' || true)"
if [ -z "$execs" ]; then
    execs="$(grep -oE '^#[0-9]+' "$LOG" | tail -n1 | tr -d '#' || true)"
fi
rate="$(grep -o 'stat::average_exec_per_sec: [0-9]*' "$LOG" | tail -n1 | awk '{print $2}' || true)"
if [ -z "$rate" ]; then
    rate="$(grep -oE 'exec/s: [0-9]+' "$LOG" | tail -n1 | awk '{print $2}' || true)"
fi
cov="$(grep -oE 'cov: [0-9]+' "$LOG" | tail -n1 | awk '{print $2}' || true)"
artifacts="$(find "$HERE" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) -newer "$STAMP" | sort)"
rm -f "$STAMP"

finding=no
if [ -n "$artifacts" ] || [ "$rc" -ne 0 ]; then finding=yes; fi
echo "== SUMMARY: execs=${execs:-?} exec/s=${rate:-?} cov=${cov:-?} seconds=$SECONDS_TO_RUN jobs=$JOBS libfuzzer_rc=$rc finding=$finding artifacts=[$(echo $artifacts | tr ' ' ',')] log=$LOG"
if [ "$finding" = yes ]; then exit 1; fi
