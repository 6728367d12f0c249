#!/usr/bin/env bash
# promote dev -> staging (every service, with the commit) on a synthetic legacy-layout repository,
# through each git backend, and on a `core.autocrlf=true` checkout (which the allow-list sends
# through the git binary):
#
#   scripts/bench-backends.sh PROMOTE_BINARY      (`make bench` runs it after scripts/bench.sh)
#
# Every run starts from the same settled repository (as scripts/bench.sh settles it). Prints a
# markdown section and appends it to BENCH_OUT (default bench/results.md). Settings (environment):
#   BENCH_BACKEND_SERVICES=1000   BENCH_RUNS=5   BENCH_OUT=bench/results.md
set -euo pipefail

PROMOTE=${1:?usage: scripts/bench-backends.sh PROMOTE_BINARY}
PROMOTE=$(cd "$(dirname "$PROMOTE")" && pwd)/$(basename "$PROMOTE")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${BENCH_BACKEND_SERVICES:-1000}
RUNS=${BENCH_RUNS:-5}
OUT=${BENCH_OUT:-$ROOT/bench/results.md}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# No user or system git config: the same repositories on every machine.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
MTIME=$(date +%s)

settle() { # REPO COMMIT
    git -C "$1" reset -q --hard "$2"
    git -C "$1" clean -fdq
    find "$1" -path "$1/.git" -prune -o -newermt "@$MTIME" -print0 | xargs -0 -r touch -h -d "@$MTIME"
    git -C "$1" update-index -q --refresh
}

python3 "$ROOT/bench/gen.py" "$WORK/plain" --services "$N" --layout legacy >/dev/null 2>&1
git clone -q "$WORK/plain" "$WORK/crlf"
git -C "$WORK/crlf" config user.name Bench
git -C "$WORK/crlf" config user.email bench@example.com
git -C "$WORK/crlf" config core.autocrlf true
# Checked out again: CRLF line endings in the work tree, as on a Windows checkout.
git -C "$WORK/crlf" rm -q --cached -r .
git -C "$WORK/crlf" reset -q --hard
MTIME=$(date +%s)
declare -A PRE=([plain]=$(git -C "$WORK/plain" rev-parse HEAD) [crlf]=$(git -C "$WORK/crlf" rev-parse HEAD))

# name, repository, PROMOTE_GIT
CASES=("in-process (default)|plain|auto" "git binary (PROMOTE_GIT=cli)|plain|cli" "autocrlf checkout (default: the git binary)|crlf|auto")
declare -A TIMES
for ((run = 1; run <= RUNS; run++)); do
    for c in "${CASES[@]}"; do
        IFS='|' read -r name repo mode <<<"$c"
        settle "$WORK/$repo" "${PRE[$repo]}"
        start=$(date +%s%N)
        PROMOTE_GIT=$mode "$PROMOTE" -C "$WORK/$repo" to staging >/dev/null 2>"$WORK/err" || {
            cat "$WORK/err" >&2
            exit 1
        }
        end=$(date +%s%N)
        [[ $(git -C "$WORK/$repo" rev-parse HEAD) != "${PRE[$repo]}" ]] || { echo "$name made no commit" >&2; exit 1; }
        [[ -z $(git -C "$WORK/$repo" status --porcelain) ]] || { echo "$name left the tree dirty" >&2; exit 1; }
        TIMES[$name]+="$(((end - start) / 1000)) "
    done
    printf '.' >&2
done
echo >&2

median_ms() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; printf "%.0f", m / 1000}'; }
min_ms() { tr ' ' '\n' | grep . | sort -n | head -1 | awk '{printf "%.0f", $1 / 1000}'; }

{
    echo
    echo "### Git backends: promote dev → staging at $N services (legacy layout), with the commit"
    echo
    echo "$(date -u +'%Y-%m-%d %H:%M UTC') · git $(git --version | cut -d' ' -f3) · load $(cut -d' ' -f1-3 /proc/loadavg) · median of $RUNS runs, alternating, from the same settled repository (\`scripts/bench-backends.sh\`)."
    echo
    echo "| backend | median | fastest |"
    echo "|---|---:|---:|"
    for c in "${CASES[@]}"; do
        IFS='|' read -r name _ _ <<<"$c"
        echo "| $name | $(median_ms <<<"${TIMES[$name]}") ms | $(min_ms <<<"${TIMES[$name]}") ms |"
    done
} | tee -a "$OUT"
