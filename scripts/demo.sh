#!/usr/bin/env bash
# The whole promote flow on a throwaway copy of the bundled example. The checkout is never touched.
set -euo pipefail
PROMOTE=$(realpath "${1:-target/release/promote}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
DEMO=$(mktemp -d "${TMPDIR:-/tmp}/promote-demo.XXXXXX")

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "$*"; "$@"; }

cp -R "$SRC/promote.yaml" "$SRC/templates" "$SRC/environments" "$DEMO/"
cd "$DEMO"
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
git init -q -b main
git config user.name "Demo User"
git config user.email "demo@example.com"
git add -A && git commit -q -m "config repo, as bundled"
echo "demo repository: $DEMO"

run "$PROMOTE" status
# CI, right after the image build: every service built from one commit.
run "$PROMOTE" set-image dev --sha c0ffee1 -m "build of c0ffee1"
run "$PROMOTE" diff staging
run "$PROMOTE" to staging -m "release 2026.11"
run "$PROMOTE" to prod --only web,worker -m "web and worker first"
run "$PROMOTE" status
run "$PROMOTE" log -n 3
run "$PROMOTE" log --verify
run git log --oneline -4
run "$PROMOTE" check
echo
echo "the demo repository is kept at $DEMO (delete it when done)"
