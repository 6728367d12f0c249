#!/usr/bin/env bash
# Kill soak: SIGKILL promote at random instants of real promotions, and check that the next command
# leaves a consistent repository every time.
#
#   scripts/soak.sh PROMOTE_BINARY          (`make soak` builds the release binary and runs this)
#
# On a generated repository (bench/gen.py, SOAK_SERVICES services x 3 environments, native layout),
# it alternates `promote set-image dev --sha <random>` and `promote to staging`, each killed with
# SIGKILL after a random delay between 0 and the time an uninterrupted run takes. After each
# kill, `promote status` (any command repairs first) runs, then the repository must be consistent:
#
#   no journal and no index.lock left; `git status` clean (HEAD, index and working tree agree);
#   HEAD is the commit the run started from or one commit on top of it; `git fsck` clean;
#   `promote check`, `promote render --check` and `promote log --verify` pass.
#
# Prints how many trials were killed, how many of those were interrupted mid-change (a journal was
# left), how many the next command repaired (and how: rolled back or finished), how many stale
# index locks were left, and the number of inconsistent states, which must be 0 (else exit 1).
# Settings (environment): SOAK_TRIALS=300, SOAK_SERVICES=300, SOAK_KEEP=1 keeps the repository.
set -euo pipefail

PROMOTE=$(realpath "${1:?usage: scripts/soak.sh PROMOTE_BINARY}")
[[ -x $PROMOTE ]] || { echo "soak: \`$PROMOTE\` is not an executable" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRIALS=${SOAK_TRIALS:-300}
SERVICES=${SOAK_SERVICES:-300}
command -v python3 >/dev/null || { echo "soak: python3 is needed (bench/gen.py)" >&2; exit 1; }

WORK=$(mktemp -d)
[[ -n ${SOAK_KEEP:-} ]] && echo "soak: keeping $WORK" >&2 || trap 'rm -rf "$WORK"' EXIT
REPO=$WORK/repo
python3 "$ROOT/bench/gen.py" "$REPO" --services "$SERVICES" --layout native >/dev/null 2>&1
export GIT_AUTHOR_NAME=soak GIT_AUTHOR_EMAIL=soak@example.com
export GIT_COMMITTER_NAME=soak GIT_COMMITTER_EMAIL=soak@example.com
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null NO_COLOR=1
cd "$REPO"
p() { "$PROMOTE" "$@"; }

sha() { printf '%07x' $(( (RANDOM << 15 | RANDOM) & 0xfffffff )); }
ms() { date +%s%N | cut -c1-13; }

# How long an uninterrupted run takes (the median of 3 of each command), to spread the kills over it.
durations=()
for _ in 1 2 3; do
    t0=$(ms); p set-image dev --sha "$(sha)" >/dev/null 2>&1; t1=$(ms)
    p to staging >/dev/null 2>&1; t2=$(ms)
    durations+=($((t1 - t0)) $((t2 - t1)))
done
median=$(printf '%s\n' "${durations[@]}" | sort -n | sed -n 3,4p | head -1)
window=$(( median + 1 ))
echo "soak: $SERVICES services, $TRIALS trials, an uninterrupted run takes ~${median} ms; kills at 0-${window} ms"

killed=0 interrupted=0 repaired=0 rolled=0 finished=0 locks_after_kill=0 stale_locks=0 bad=0 committed=0
for i in $(seq 1 "$TRIALS"); do
    start=$(git rev-parse HEAD)
    if (( i % 2 )); then cmd=(set-image dev --sha "$(sha)"); else cmd=(to staging); fi
    delay=$(( RANDOM * RANDOM % window ))
    "$PROMOTE" "${cmd[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    kill -KILL "$pid" 2>/dev/null || true
    rc=0; { wait "$pid"; } 2>/dev/null || rc=$?
    [[ $rc == 137 ]] && killed=$((killed + 1))
    if [[ -e .git/promote/journal ]]; then
        interrupted=$((interrupted + 1))
        [[ -e .git/index.lock ]] && locks_after_kill=$((locks_after_kill + 1))
    fi
    # The next command repairs first and says what it did.
    if ! out=$(p status 2>&1 >/dev/null); then
        echo "trial $i (${cmd[*]}, killed at ${delay} ms): the next command failed: $out" >&2
    fi
    if grep -q "interrupted change" <<<"$out"; then
        repaired=$((repaired + 1))
        grep -q "it was finished" <<<"$out" && finished=$((finished + 1))
        grep -q "it was rolled back" <<<"$out" && rolled=$((rolled + 1))
    fi
    # Consistent?
    why=()
    [[ -e .git/promote/journal ]] && why+=("journal left")
    [[ -e .git/index.lock ]] && { why+=("index.lock left"); stale_locks=$((stale_locks + 1)); }
    [[ -z $(git status --porcelain --untracked-files=all) ]] || why+=("git status not clean")
    head=$(git rev-parse HEAD)
    if [[ $head != "$start" ]]; then
        committed=$((committed + 1))
        [[ $(git rev-parse HEAD^) == "$start" ]] || why+=("HEAD is not the start or one commit on it")
    fi
    git fsck --no-dangling --no-progress >/dev/null 2>&1 || why+=("git fsck")
    p check >/dev/null 2>&1 || why+=("promote check")
    p render --check >/dev/null 2>&1 || why+=("promote render --check")
    p log --verify >/dev/null 2>&1 || why+=("promote log --verify")
    if (( ${#why[@]} )); then
        bad=$((bad + 1))
        echo "trial $i (${cmd[*]}, killed at ${delay} ms): INCONSISTENT: ${why[*]}" >&2
        git status --short | head -5 >&2
        # Start the next trial from a clean state.
        rm -f .git/promote/journal .git/index.lock
        git reset -q --hard && git clean -qfd
    fi
done

echo "trials:                             $TRIALS"
echo "killed by SIGKILL:                  $killed (the others finished first)"
echo "interrupted mid-change (journal):   $interrupted (with promote's index.lock left: $locks_after_kill)"
echo "repaired by the next command:       $repaired ($rolled rolled back, $finished finished)"
echo "changes committed:                  $committed"
echo "stale index locks after the next:   $stale_locks"
echo "inconsistent states:                $bad"
(( bad == 0 && stale_locks == 0 ))
