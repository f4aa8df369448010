#!/usr/bin/env bash
# Builds and runs the Swift libFuzzer harnesses of the parsers that face the network.
#
#   fuzz/swift/run.sh http|oip [SECONDS]      (default 60 s)
#
# http: the HTTP/1.1 request parser, multipart/form-data and the request target
#       (Sources/FastVimHTTP); oip: strict JSON, OIP infer requests (JSON and the binary
#       extension) and the token mask (Sources/FastVimServing/Protocol, Routes/ImageUpload).
# Each harness is compiled by swiftc with -sanitize=fuzzer,address from the sources it
# tests, which have no system-library dependencies, into fuzz/swift/<name>_fuzzer; its
# corpus starts from fuzz/swift/seeds-<name> (the input's first byte picks the parser) and
# grows under fuzz/swift/corpus-<name>. Prints one summary line and exits non-zero
# when libFuzzer fails or leaves a crash-/leak-/timeout-/oom- artifact.
set -euo pipefail
NAME="${1:?usage: run.sh http|oip [SECONDS]}"
SECONDS_TO_RUN="${2:-60}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HTTP="$ROOT/Sources/FastVimHTTP"
SERVING="$ROOT/Sources/FastVimServing"
case "$NAME" in
  http) SOURCES=("$HERE/HTTPFuzzer.swift" "$HTTP"/HTTP1{Parser,Event,Limits,ParseError,RequestHead}.swift "$HTTP/Substring+OWS.swift"
                 "$HTTP/URLQuery.swift" "$HTTP"/Multipart{FormData,Error,Part}.swift) ;;
  oip) SOURCES=("$HERE/OIPFuzzer.swift" "$SERVING/Protocol/StrictJSON.swift" "$SERVING/Protocol/OIPInferRequest.swift"
                "$SERVING/Protocol/ServingError.swift" "$SERVING/Access/AccessControl.swift" "$SERVING/Routes/ImageUpload.swift" "$HTTP/ClientFacingError.swift"
                "$HTTP/HTTPRequest.swift" "$HTTP/HTTPResponder.swift" "$HTTP"/Multipart{FormData,Error,Part}.swift "$HTTP/HTTP1ParseError.swift"
                "$HTTP/HTTP1Parser.swift" "$HTTP/HTTP1Limits.swift" "$HTTP/HTTP1Event.swift" "$HTTP/HTTP1RequestHead.swift"
                "$HTTP/Substring+OWS.swift") ;;
  *) echo "unknown harness $NAME (http or oip)" >&2; exit 2 ;;
esac
BIN="$HERE/${NAME}_fuzzer"
CORPUS="$HERE/corpus-$NAME"
ARTIFACTS="$HERE/artifacts-$NAME"
mkdir -p "$CORPUS" "$ARTIFACTS"
cp -n "$HERE/seeds-$NAME"/* "$CORPUS/"
rm -f "$BIN"
echo "== build $NAME"
# ld.gold prints ~150 harmless "Cannot export local symbol '__asan_..." warnings.
swiftc -O -parse-as-library -sanitize=fuzzer,address -module-name "${NAME}_fuzz" "${SOURCES[@]}" -o "$BIN" 2>&1 \
    | { grep -v "Cannot export local symbol" || true; }
[ -x "$BIN" ] || { echo "== SUMMARY: harness=$NAME build failed" >&2; exit 2; }
before=$(ls "$ARTIFACTS" | wc -l)
echo "== fuzz $NAME for $SECONDS_TO_RUN s"
set +e
"$BIN" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
    -artifact_prefix="$ARTIFACTS/" "$CORPUS" 2>&1 | tee "$HERE/last-$NAME.log" | grep -E "^#[0-9]+ *(DONE|pulse)|ERROR|SUMMARY|stat::" || true
rc=${PIPESTATUS[0]}
set -e
after=$(ls "$ARTIFACTS" | wc -l)
execs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$HERE/last-$NAME.log" | grep -o "[0-9]*$" || echo 0)
rate=$(grep -o "stat::average_exec_per_sec: *[0-9]*" "$HERE/last-$NAME.log" | grep -o "[0-9]*$" || echo 0)
finding=no; [ "$rc" -ne 0 ] || [ "$after" -gt "$before" ] && finding=yes
echo "== SUMMARY: harness=$NAME seconds=$SECONDS_TO_RUN execs=$execs exec/s=$rate corpus=$(ls "$CORPUS" | wc -l) finding=$finding artifacts=[$(ls "$ARTIFACTS" | tr '\n' ' ')]"
[ "$finding" = no ]
