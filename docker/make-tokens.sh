#!/usr/bin/env bash
# Makes bearer tokens for FastVim Serve's --auth-token-file (FASTVIM_AUTH_TOKEN_FILE):
#   DIR/tokens         the token file: one inference, one metadata and one admin token
#   DIR/metrics-token  the metadata token alone, for Prometheus (it scrapes /metrics)
# DIR defaults to docker/secrets (git-ignored), which docker/compose.yaml mounts as secrets.
# DIR is private (0700); the files are 0644 because Compose bind-mounts them unchanged and the
# containers read them as other users (10001, Prometheus's nobody). For Kubernetes:
#   kubectl create secret generic fastvim-tokens --from-file=tokens=DIR/tokens \
#       --from-file=metrics-token=DIR/metrics-token
# An existing DIR/tokens is kept (remove it to make new tokens). Needs only coreutils.
set -euo pipefail
DIR=${1:-$(dirname "$0")/secrets}
if [[ -e "$DIR/tokens" ]]; then
    echo "make-tokens: $DIR/tokens exists; remove it to make new tokens" >&2
    exit 1
fi
mkdir -p "$DIR"
chmod 700 "$DIR"
token() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }   # 256 bits, 64 hex digits
inference=$(token) metadata=$(token) admin=$(token)
umask 022
printf '# <token> <scope>[,<scope>...]: inference, metadata, admin\n%s inference\n%s metadata\n%s admin\n' \
    "$inference" "$metadata" "$admin" >"$DIR/tokens.new"
printf '%s\n' "$metadata" >"$DIR/metrics-token"
mv "$DIR/tokens.new" "$DIR/tokens"
echo "make-tokens: wrote $DIR/tokens and $DIR/metrics-token" >&2
echo "  ADMIN_TOKEN=\$(awk '\$2 == \"admin\" {print \$1}' $DIR/tokens)" >&2
