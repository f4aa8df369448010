#!/usr/bin/env bash
# Tests docker/entrypoint.sh's translation of arguments and FASTVIM_* variables into
# `fastvim` flags, with a stub `fastvim` first on the PATH that prints the arguments it gets, one
# per line. Covers KServe's model-server arguments (those of docker/kserve/fastvim-runtime.yaml,
# --opt=VALUE and --opt VALUE forms, model directories with none, one or several checkpoints)
# and the existing behaviour (no arguments, variables, `serve` flags, other commands), the
# access-control and model-repository variables, and, with a built binary, that every option of
# `fastvim serve --help` has its FASTVIM_* variable.
# Needs only bash and coreutils; prints `ok`/`FAIL` per case, exits with the number of failures.
set -uo pipefail
cd "$(dirname "$0")/../.."
ENTRY=$PWD/docker/entrypoint.sh
RUNTIME=$PWD/docker/kserve/fastvim-runtime.yaml
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/bin"
cat >"$T/bin/fastvim" <<'EOF'
#!/bin/sh
for a in "$@"; do printf '%s\n' "$a"; done
EOF
chmod +x "$T/bin/fastvim"
failures=0

# run [VAR=VALUE ...] -- ARGS...: the entrypoint with a clean FASTVIM_* environment; sets OUT
# (the stub's lines joined by spaces), ERR (stderr) and RC.
run() {
    local envs=()
    while [[ "$1" != -- ]]; do envs+=("$1"); shift; done
    shift
    OUT=$(env -i PATH="$T/bin:/usr/bin:/bin" HOME="$T" "${envs[@]}" bash "$ENTRY" "$@" 2>"$T/err" | tr '\n' ' ')
    RC=${PIPESTATUS[0]}
    OUT=${OUT% }
    ERR=$(cat "$T/err")
}
ok() { echo "ok: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
expect() { # expect WHAT WANTED-ARGS: the stub ran with exactly these arguments
    if [[ $RC == 0 && "$OUT" == "$2" ]]; then ok "$1"; else fail "$1"$'\n'"   want: $2"$'\n'"   got (rc $RC): $OUT"$'\n'"   stderr: $ERR"; fi
}
refuse() { # refuse WHAT MESSAGE-PART: the entrypoint failed before running the stub, saying why
    if [[ $RC != 0 && -z "$OUT" && "$ERR" == *"$2"* ]]; then ok "$1"; else fail "$1"$'\n'"   want a failure saying: $2"$'\n'"   got (rc $RC): $OUT"$'\n'"   stderr: $ERR"; fi
}

BASE="serve --host 0.0.0.0 --port 8080"
M=$T/models
mkdir -p "$M/one" "$M/plain" "$M/two" "$M/none" "$M/cfgext"
: >"$M/one/fastvim_t.ckpt"
echo '{}' >"$M/one/fastvim_t.json"
echo 'x' >"$M/one/README.md"
: >"$M/plain/vim_t.pth"
: >"$M/two/a.pth"
: >"$M/two/b.safetensors"
echo '{}' >"$M/none/config.json"
: >"$M/cfgext/m.safetensors"
echo '{}' >"$M/cfgext/m.safetensors.json"

# --- The existing behaviour ------------------------------------------------------------------
run -- ; expect "no arguments: serve on 0.0.0.0:8080" "$BASE"
run -- serve --max-batch-size 4; expect "serve FLAGS: the flags come last" "$BASE --max-batch-size 4"
run -- --top-k 3; expect "a flag alone means serve" "$BASE --top-k 3"
run FASTVIM_PORT=9000 FASTVIM_HOST=127.0.0.1 FASTVIM_MAX_BATCH_SIZE=16 FASTVIM_CHECKPOINT=/m/x.pth \
    "FASTVIM_MODEL=a=/m/a.pth b=/m/b.ckpt,config=/m/b.json" -- serve
expect "FASTVIM_* variables become flags" \
    "serve --host 127.0.0.1 --port 9000 --checkpoint /m/x.pth --max-batch-size 16 --model a=/m/a.pth --model b=/m/b.ckpt,config=/m/b.json"
run FASTVIM_PORT=tcp://10.0.0.1:8080 -- serve; expect "a service-link FASTVIM_PORT is ignored" "$BASE"
run -- inspect --checkpoint /m/x.pth; expect "other commands go to fastvim unchanged" "inspect --checkpoint /m/x.pth"
run -- --help; expect "--help reaches fastvim serve" "$BASE --help"

# --- Access control and the model repository -------------------------------------------------
# What docker/k8s/deployment.yaml sets.
run FASTVIM_MODEL_REPOSITORY=/models FASTVIM_MODEL_CONTROL_MODE=explicit FASTVIM_LOAD_MODEL=fastvim-t \
    FASTVIM_AUTH_TOKEN_FILE=/etc/fastvim/tokens -- serve
expect "the repository, explicit control, one model, the token file" \
    "$BASE --model-repository /models --model-control-mode explicit --auth-token-file /etc/fastvim/tokens --load-model fastvim-t"
run "FASTVIM_LOAD_MODEL=fastvim-t  vim-t"$'\n'"vim-s " FASTVIM_MODEL_CONTROL_MODE=explicit -- serve
expect "FASTVIM_LOAD_MODEL: several names, split on spaces and newlines" \
    "$BASE --model-control-mode explicit --load-model fastvim-t --load-model vim-t --load-model vim-s"
run "FASTVIM_LOAD_MODEL=*" "FASTVIM_MODEL=a=/m/*.pth" -- serve
expect "FASTVIM_LOAD_MODEL and FASTVIM_MODEL are not globbed" "$BASE --model a=/m/*.pth --load-model *"
run FASTVIM_MODEL_CONTROL_MODE=poll FASTVIM_REPOSITORY_POLL_SECONDS=30 FASTVIM_MODEL_REPOSITORY=/models -- serve --load-model x
expect "poll mode and its period; flags after serve still come last" \
    "$BASE --model-repository /models --model-control-mode poll --repository-poll-seconds 30 --load-model x"
run FASTVIM_AUTH_TOKEN_FILE=/t FASTVIM_PROTECT_HEALTH=true FASTVIM_ENABLE_BENCHMARK=1 FASTVIM_TLS_CLIENT_CA=/ca.pem -- serve
expect "FASTVIM_PROTECT_HEALTH=true and FASTVIM_ENABLE_BENCHMARK=1 are flags" \
    "$BASE --tls-client-ca /ca.pem --auth-token-file /t --protect-health --enable-benchmark"
run FASTVIM_PROTECT_HEALTH=false FASTVIM_ENABLE_BENCHMARK=0 -- serve
expect "false and 0 give no flag" "$BASE"
run FASTVIM_PROTECT_HEALTH=on -- serve; refuse "a flag variable that is not a boolean is refused" "FASTVIM_PROTECT_HEALTH='on' is not true"

# Every option of `fastvim serve --help` has its variable, when a built binary is at hand (the
# list in the entrypoint is hand-written: a new option must be added there).
HELP_BIN=${FASTVIM_HELP_BIN:-}
for b in .build/release/fastvim .build/debug/fastvim; do [[ -z "$HELP_BIN" && -x "$b" ]] && HELP_BIN=$b; done
if [[ -n "$HELP_BIN" ]] && HELP=$("$HELP_BIN" serve --help 2>&1); then
    envs=() want=()
    while read -r opt arg; do
        [[ "$opt" == help ]] && continue
        var=FASTVIM_$(tr 'a-z-' 'A-Z_' <<<"$opt")
        if [[ -n "$arg" ]]; then envs+=("$var=7"); want+=("--$opt 7"); else envs+=("$var=true"); want+=("--$opt"); fi
    done < <(sed -n 's/^  \(-h, \)\{0,1\}--\([a-z0-9-]*\)\( <[a-z0-9-]*>\)\{0,1\}.*/\2 \3/p' <<<"$HELP")
    run "${envs[@]}" -- serve
    missing=()
    for w in "${want[@]}"; do [[ " $OUT " == *" $w "* ]] || missing+=("$w"); done
    if [[ $RC == 0 && ${#want[@]} -gt 30 && ${#missing[@]} == 0 ]]; then
        ok "each of the ${#want[@]} options of \`$HELP_BIN serve --help\` is a FASTVIM_* variable"
    else
        fail "options of \`$HELP_BIN serve --help\` without a variable (rc $RC, ${#want[@]} options): ${missing[*]}"$'\n'"   stderr: $ERR"
    fi
else
    echo "skip: no built fastvim (.build/release or .build/debug, or FASTVIM_HELP_BIN) to compare the variables with its options"
fi

# --- KServe's arguments ----------------------------------------------------------------------
# The runtime's own arguments, as KServe passes them ({{.Name}} is the InferenceService's name).
mapfile -t RT_ARGS < <(sed -n 's/^ *- *"\{0,1\}\(--[a-z_]*=[^"]*\)"\{0,1\} *$/\1/p' "$RUNTIME")
if [[ "${RT_ARGS[*]}" == "--model_name={{.Name}} --model_dir=/mnt/models --http_port=8080" ]]; then
    ok "the runtime passes --model_name={{.Name}} --model_dir=/mnt/models --http_port=8080"
else
    fail "the runtime's arguments are ${RT_ARGS[*]}"
fi
RT_ARGS=("${RT_ARGS[@]//\{\{.Name\}\}/fastvim-t}")
RT_ARGS=("${RT_ARGS[@]//\/mnt\/models/$M/one}")
run -- "${RT_ARGS[@]}"
expect "the runtime's arguments: the checkpoint and its <stem>.json under the InferenceService's name" \
    "$BASE --model fastvim-t=$M/one/fastvim_t.ckpt,config=$M/one/fastvim_t.json"
[[ "$ERR" == *"serving $M/one/fastvim_t.ckpt (config $M/one/fastvim_t.json) as fastvim-t"* ]] \
    && ok "it logs what it serves" || fail "no log line naming the model: $ERR"

run -- --model_name digits --model_dir "$M/plain" --http_port 9090
expect "--opt VALUE form; a checkpoint without config; --http_port is the port" \
    "serve --host 0.0.0.0 --port 9090 --model digits=$M/plain/vim_t.pth"
run -- serve "--model_dir=$M/one/" --http_port=8081
expect "without --model_name: --checkpoint and --config (trailing slash on the directory)" \
    "serve --host 0.0.0.0 --port 8081 --checkpoint $M/one/fastvim_t.ckpt --config $M/one/fastvim_t.json"
run -- --model_name=m "--model_dir=$M/cfgext"
expect "<file>.json is the config when <stem>.json is absent" "$BASE --model m=$M/cfgext/m.safetensors,config=$M/cfgext/m.safetensors.json"
run -- --model_name=m "--model_dir=$M/plain/vim_t.pth"
expect "a file as --model_dir is the checkpoint" "$BASE --model m=$M/plain/vim_t.pth"
run -- --model_name=m "--model_dir=$M/plain" --grpc_port=8081 --max-batch-size 2
expect "--grpc_port is dropped; other flags pass through after the model" "$BASE --model m=$M/plain/vim_t.pth --max-batch-size 2"
[[ "$ERR" == *"ignoring --grpc_port 8081"* ]] && ok "--grpc_port is logged as ignored" || fail "no log line for --grpc_port: $ERR"
run FASTVIM_PORT=7000 FASTVIM_MAX_QUEUE=64 -- --model_name=m "--model_dir=$M/plain" --http_port=8080
expect "--http_port wins over FASTVIM_PORT; variables still apply" "$BASE --max-queue 64 --model m=$M/plain/vim_t.pth"

run -- --model_name=m "--model_dir=$M/none"; refuse "a directory without a checkpoint is refused" "holds no *.pth, *.ckpt or *.safetensors file (it holds: config.json"
run -- --model_name=m "--model_dir=$M/two"; refuse "a directory with two checkpoints is refused" "holds 2 checkpoints, keep one: $M/two/a.pth $M/two/b.safetensors"
run -- --model_name=m "--model_dir=$M/missing"; refuse "a missing directory is refused" "--model_dir $M/missing: no such directory"
run -- --model_name=m; refuse "--model_name without --model_dir is refused" "--model_name needs --model_dir"
run -- "--model_name=" "--model_dir=$M/plain"; refuse "an empty --model_name is refused" "is not a model name"
run -- --model_name=m "--model_dir=$M/plain" --http_port=http; refuse "a non-numeric --http_port is refused" "--http_port 'http' is not a port number"
run -- --model_name=m --model_dir; refuse "a trailing --model_dir without a value is refused" "--model_dir needs a value"
if [[ $(id -u) != 0 ]]; then
    : >"$M/plain/secret.pth"; chmod 000 "$M/plain/secret.pth"; mkdir -p "$M/unreadable"; mv "$M/plain/secret.pth" "$M/unreadable/"
    run -- --model_name=m "--model_dir=$M/unreadable"; refuse "an unreadable checkpoint is refused" "is not readable by uid"
fi

echo
if ((failures == 0)); then echo "entrypoint: all checks passed"; else echo "entrypoint: $failures check(s) FAILED"; fi
exit $((failures > 100 ? 100 : failures))
