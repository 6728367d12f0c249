#!/usr/bin/env bash
# promote against the sed-and-jq script it replaces, and against the floor, on synthetic repositories.
#
#   scripts/bench.sh PROMOTE_BINARY          (`make bench` builds the release binary and runs this)
#
# For every size (services x 3 environments) it generates identical repositories with bench/gen.py,
# in both layouts, then times, alternating the tools run by run:
#
#   render     render all 3 environments, nothing to change (must write nothing)
#   promote    promote dev -> staging, every service changes, end to end with the commit
#   no-op      promote staging -> prod, which already runs what staging runs (must not commit)
#   set-image  set-image dev for every service (CI, right after the image build)
#
# with three tools: the baseline (bench/baseline/*.sh: one sed process per template, jq, git), the
# floor (bench/floor.sh: read the templates, copy the changed files into place, add them to the
# index and commit: what any tool must pay) and promote. Every run starts from the same settled
# repository (reset to the commit before, file times and index restored). One untimed warm-up run of
# promote per operation measures its peak memory. Last, the same promotion on 1 commit of history vs
# BENCH_HISTORY commits.
#
# Prints a markdown table and writes it to bench/results.md. Settings (environment):
#   BENCH_SIZES="100 1000"   numbers of services (empty: none, e.g. to run only the report part:
#                            BENCH_SIZES= BENCH_HISTORY=0 BENCH_OUT=target/bench.md scripts/bench.sh ...)
#   BENCH_RUNS=5             runs per tool and operation (the median is reported)
#   BENCH_BASELINE_BUDGET=30 seconds of baseline runs per operation: after the run that passes it, the
#                            baseline's remaining runs are skipped (at 1,000 services one baseline
#                            render takes 20 to 40 s); the table says how many runs there were
#   BENCH_HISTORY=20000      commits of history for the depth test (0: skip it)
#   BENCH_HISTORY_SERVICES=100
#   BENCH_HISTORY_RUNS=9     runs per tool and depth (default: BENCH_RUNS, at least 9: a 10% bound
#                            needs more runs than a 50x one)
#   BENCH_REPORT="1000 10000" `promote report --html` on a native repository of that many services with
#                            that many deploy.log records (bench/gen_log.py); empty: skip it
#   BENCH_OUT=bench/results.md
#   BENCH_KEEP=1             keep the generated repositories (their directory is printed)
set -euo pipefail

PROMOTE=$(realpath "${1:?usage: scripts/bench.sh PROMOTE_BINARY}")
[[ -x $PROMOTE ]] || { echo "bench: \`$PROMOTE\` is not an executable" >&2; exit 1; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
SIZES=${BENCH_SIZES-"100 1000"}
RUNS=${BENCH_RUNS:-5}
BUDGET=${BENCH_BASELINE_BUDGET:-30}
HISTORY=${BENCH_HISTORY:-20000}
HISTORY_N=${BENCH_HISTORY_SERVICES:-100}
HRUNS=${BENCH_HISTORY_RUNS:-$((RUNS > 9 ? RUNS : 9))}
REPORT=${BENCH_REPORT-"1000 10000"}
OUT=${BENCH_OUT:-$BENCH/results.md}
MTIME=1704067200 # the mtime bench/gen.py gives every file
NEW_SHA=5e7b1a9  # what set-image sets

WORK=$(mktemp -d "${TMPDIR:-/tmp}/promote-bench.XXXXXX")
cleanup() {
    if [[ ${BENCH_KEEP:-} == 1 ]]; then
        echo "bench: the repositories are kept in $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# Hermetic and pinned: the same repositories, commits and audit records on every machine.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=$WORK/home
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE=2026-01-02T00:00:00Z GIT_COMMITTER_DATE=2026-01-02T00:00:00Z
export PROMOTE_NOW=2026-01-02T00:00:00Z NO_COLOR=1 LC_ALL=C TZ=UTC
mkdir -p "$HOME"

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# Runs a command as root (apt-get), if that is possible without a password.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        return 1
    fi
}
apt_install() {
    command -v apt-get >/dev/null || return 1
    as_root apt-get -y -qq install "$@" >/dev/null 2>&1 ||
        { as_root apt-get -qq update >/dev/null 2>&1 && as_root apt-get -y -qq install "$@" >/dev/null 2>&1; }
}

# ---------------------------------------------------------------------------------------------
# What the machine has.

command -v python3 >/dev/null || die "python3 is needed (bench/gen.py)"
command -v git >/dev/null || die "git is needed"
BASELINE=1
if ! command -v jq >/dev/null; then
    say "jq is missing; installing it with apt-get"
    apt_install jq || true
fi
if ! command -v jq >/dev/null; then
    say "jq is not available: the baseline (sed + jq) is skipped"
    BASELINE=0
fi
# Peak memory: GNU time's %M (maximum resident set size, KiB), else the same getrusage figure
# through Python.
if ! /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
    say "GNU time is missing; installing it with apt-get"
    apt_install time || true
fi
if /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
    peak_kib() { # OUTFILE CMD...
        local out=$1
        shift
        /usr/bin/time -f %M -o "$out" "$@" >/dev/null 2>&1
    }
    MEM_TOOL="GNU time %M"
else
    peak_kib() {
        python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
PY
    }
    MEM_TOOL="getrusage (python3)"
fi

# Every timed run (op  services  layout  tool  run  wall-us  cpu-us) and, as `#fact` lines, what else
# is recorded (keys, then a value): bench/report.py makes the table from this file alone.
RAW=$WORK/results.tsv
: >"$RAW"
fact() { printf '#fact\t%s\t%s\n' "$1" "$2" >>"$RAW"; }

# ---------------------------------------------------------------------------------------------
# Repositories.

gen() { # DIR SERVICES LAYOUT [HISTORY]
    python3 "$BENCH/gen.py" "$1" --services "$2" --layout "$3" --history "${4:-1}" 2>/dev/null
}

# Back to the state before the run: the commit, the files, their times, and a fresh index (so no run
# pays for re-hashing files an earlier run touched).
settle() { # REPO COMMIT
    git -C "$1" reset -q --hard "$2"
    git -C "$1" clean -fdq
    find "$1" -path "$1/.git" -prune -o -newermt "@$MTIME" -print0 | xargs -0 -r touch -h -d "@$MTIME"
    git -C "$1" update-index -q --refresh
}

head_of() { git -C "$1" rev-parse HEAD; }
is_clean() { [[ -z $(git -C "$1" status --porcelain) ]]; }
# Files in the work tree written since gen (or settle).
written() { find "$1" -path "$1/.git" -prune -o -type f -newermt "@$MTIME" -print | wc -l; }

# `times` (a builtin: no process) prints the CPU time of the shell's finished children; in microseconds.
child_cpu_us() { # FILE
    local u s m r
    { read -r _ _ && read -r u s; } <"$1"
    CPU_US=0
    for r in "$u" "$s"; do
        m=${r%%m*}
        r=${r#*m}
        r=${r%s}
        CPU_US=$((CPU_US + (m * 60 + 10#${r%.*}) * 1000000 + 10#${r#*.} * 1000))
    done
}

# Runs a command, timed: wall clock in LAST_US, CPU time (user + system, of the command and every
# process it ran) in LAST_CPU; both in microseconds. A failure stops the bench.
timed() {
    local s e c0
    times >"$WORK/times"
    child_cpu_us "$WORK/times"
    c0=$CPU_US
    s=$EPOCHREALTIME
    if ! "$@" >/dev/null 2>"$WORK/last.err"; then
        say "failed: $*"
        cat "$WORK/last.err" >&2
        exit 1
    fi
    e=$EPOCHREALTIME
    times >"$WORK/times"
    child_cpu_us "$WORK/times"
    LAST_US=$((${e/./} - ${s/./}))
    LAST_CPU=$((CPU_US - c0))
}

# The files a change wrote, copied aside for the floor to write the same bytes.
make_stash() { # REPO BEFORE STASH
    rm -rf "$3"
    mkdir -p "$3/tree"
    git -C "$1" diff --name-only --no-renames "$2" HEAD >"$3/files"
    (cd "$1" && xargs -a "$3/files" cp --parents -t "$3/tree")
}

# ---------------------------------------------------------------------------------------------
# One operation at one size: every tool, alternating, RUNS times.
#   cell OP N   with TOOLS (names) and CMD_<tool> / REPO_<tool> / CHECK_<tool> set by the caller.

declare -A CMD REPO_OF KIND
cell() {
    local op=$1 n=$2 run tool layout spent=0
    N=$n
    for ((run = 1; run <= RUNS; run++)); do
        for tool in "${TOOLS[@]}"; do
            if [[ $tool == baseline ]]; then
                [[ $BASELINE == 1 ]] || continue
                if ((run > 1 && spent >= BUDGET * 1000000)); then continue; fi
            fi
            local repo=${REPO_OF[$tool]}
            settle "$repo" "${PRE[$repo]}"
            # The command is a word list; its globs are for floor.sh to expand in the repository.
            set -f
            # shellcheck disable=SC2086
            timed ${CMD[$tool]}
            set +f
            [[ $tool == baseline ]] && spent=$((spent + LAST_US))
            check "$op" "$tool" "$repo"
            case $tool in
                *legacy | baseline) layout=legacy ;;
                *) layout=native ;;
            esac
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$op" "$n" "$layout" "${tool%-*}" "$run" "$LAST_US" "$LAST_CPU" >>"$RAW"
        done
        printf '.' >&2
    done
}

# What must hold after every run.
check() { # OP TOOL REPO
    local op=$1 tool=$2 repo=$3
    case $op in
        render)
            [[ $(head_of "$repo") == "${PRE[$repo]}" ]] || die "$tool committed on render"
            is_clean "$repo" || die "$tool: render left changes: $(git -C "$repo" status --porcelain | head -3)"
            # Promote must write nothing at all (not even the same bytes): recorded, and reported.
            if [[ $tool == promote-* ]]; then
                fact "written	render	$N	${tool#promote-}" "$(written "$repo")"
            fi
            ;;
        noop)
            if [[ $tool == promote-* ]]; then
                fact "commits	noop	$N	${tool#promote-}" "$(git -C "$repo" rev-list --count "${PRE[$repo]}..HEAD")"
            fi
            is_clean "$repo" || die "$tool: the no-op left changes"
            ;;
        promote | set-image)
            [[ $(head_of "$repo") != "${PRE[$repo]}" ]] || die "$tool made no commit for $op"
            is_clean "$repo" || die "$tool: $op left uncommitted changes: $(git -C "$repo" status --porcelain | head -3)"
            # The baseline renders what promote renders (promote's commit is the reference).
            if [[ $tool == baseline && -n ${REF[$op]:-} ]]; then
                git -C "$repo" diff --quiet "${REF[$op]}" HEAD -- ':(glob)*/*.yaml' ||
                    die "the baseline and promote render different manifests for $op: $(git -C "$repo" diff --stat "${REF[$op]}" HEAD -- ':(glob)*/*.yaml' | tail -1)"
            fi
            ;;
    esac
}

# Promote's peak memory for one command, in KiB.
peak() { # OP N LAYOUT REPO CMD...
    local op=$1 n=$2 layout=$3 repo=$4
    shift 4
    settle "$repo" "${PRE[$repo]}"
    peak_kib "$WORK/peak" "$@" || die "failed: $*"
    fact "peak	$op	$n	$layout" "$(tr -dc 0-9 <"$WORK/peak")"
}

declare -A PRE REF
bench_size() {
    local n=$1 L=$WORK/legacy-$n V=$WORK/native-$n op
    say "$n services: generating repositories"
    gen "$L" "$n" legacy
    gen "$V" "$n" native
    PRE[$L]=$(head_of "$L")
    PRE[$V]=$(head_of "$V")
    "$PROMOTE" -C "$L" render --check >/dev/null 2>&1 || die "gen.py made a legacy repository promote does not render as is"
    "$PROMOTE" -C "$V" render --check >/dev/null 2>&1 || die "gen.py made a native repository promote does not render as is"

    REPO_OF=([baseline]=$L [floor-legacy]=$L [promote-legacy]=$L [floor-native]=$V [promote-native]=$V)
    TOOLS=(baseline floor-legacy promote-legacy floor-native promote-native)
    local B=$BENCH/baseline F=$BENCH/floor.sh S=$WORK/stash-$n

    # One untimed run of promote per operation and layout: it warms the page cache, measures
    # promote's peak memory, and for the changes gives the reference commit (what the baseline must
    # render too) and the files the floor writes.
    say "$n services: warm-up runs and peak memory"
    local op repo layout args
    for op in render promote noop set-image; do
        case $op in
            render) args=(render) ;;
            promote) args=(to staging) ;;
            noop) args=(to prod) ;;
            set-image) args=(set-image dev --sha "$NEW_SHA") ;;
        esac
        for layout in legacy native; do
            repo=$L
            [[ $layout == native ]] && repo=$V
            peak "$op" "$n" $layout "$repo" "$PROMOTE" -C "$repo" "${args[@]}"
            if [[ $op == promote || $op == set-image ]]; then
                make_stash "$repo" "${PRE[$repo]}" "$S-$op-$layout"
                if [[ $layout == legacy ]]; then REF[$op]=$(head_of "$repo"); fi
            fi
        done
    done

    say "$n services: render all environments, nothing to change"
    CMD=([baseline]="$B/render.sh -C $L"
        [floor-legacy]="$F $L - */*.yaml.tpl */*.yaml */metadata.json.noargo"
        [promote-legacy]="$PROMOTE -C $L render"
        [floor-native]="$F $V - templates/*/*.yaml environments/*/manifests/*.yaml environments/*/metadata.json"
        [promote-native]="$PROMOTE -C $V render")
    cell render "$n"
    echo >&2

    say "$n services: promote dev -> staging"
    CMD=([baseline]="$B/promote.sh -C $L staging"
        [floor-legacy]="$F $L $S-promote-legacy staging/*.yaml.tpl"
        [promote-legacy]="$PROMOTE -C $L to staging"
        [floor-native]="$F $V $S-promote-native templates/*/*.yaml"
        [promote-native]="$PROMOTE -C $V to staging")
    cell promote "$n"
    echo >&2

    say "$n services: no-op promotion (staging -> prod)"
    CMD=([baseline]="$B/promote.sh -C $L prod"
        [floor-legacy]="$F $L - staging/metadata.json.noargo prod/metadata.json.noargo"
        [promote-legacy]="$PROMOTE -C $L to prod"
        [floor-native]="$F $V - environments/staging/metadata.json environments/prod/metadata.json"
        [promote-native]="$PROMOTE -C $V to prod")
    cell noop "$n"
    echo >&2

    say "$n services: set-image dev for every service"
    CMD=([baseline]="$B/set-image.sh -C $L dev $NEW_SHA"
        [floor-legacy]="$F $L $S-set-image-legacy dev/*.yaml.tpl"
        [promote-legacy]="$PROMOTE -C $L set-image dev --sha $NEW_SHA"
        [floor-native]="$F $V $S-set-image-native templates/*/*.yaml"
        [promote-native]="$PROMOTE -C $V set-image dev --sha $NEW_SHA")
    cell set-image "$n"
    echo >&2

    settle "$L" "${PRE[$L]}"
    settle "$V" "${PRE[$V]}"
    fact "files	$n" "$(git -C "$L" ls-files | wc -l) $(git -C "$V" ls-files | wc -l)"
    [[ ${BENCH_KEEP:-} == 1 ]] || rm -rf "$L" "$V" "$S"-*
}

# The same promotion on 1 commit of history and on HISTORY commits, alternating. Both histories end in
# the same tree, and both are used with the same work tree (its `.git` is a gitfile pointing at one git
# directory or the other): on this kind of machine the cost of opening files differs by 30% or more
# between two directories with the same names and contents (how each directory's blocks happen to
# lie), which would swamp a 10% bound. So the only difference between the two is the history.
bench_history() {
    local n=$HISTORY_N run depth layout tool wt gd
    say "history: generating $n-service repositories with 1 and $HISTORY commits"
    declare -gA HPRE=()
    for layout in legacy native; do
        wt=$WORK/h-$layout
        for depth in 1 "$HISTORY"; do
            gen "$wt-tmp" "$n" $layout "$depth"
            mv "$wt-tmp/.git" "$wt-$depth.git"
            # libgit2 (unlike git) takes a moved git directory's parent for the work tree unless told.
            git --git-dir="$wt-$depth.git" config core.worktree "$wt"
            if [[ $depth == 1 ]]; then mv "$wt-tmp" "$wt"; else rm -rf "$wt-tmp"; fi
            HPRE[$layout-$depth]=$(git --git-dir="$wt-$depth.git" rev-parse HEAD)
        done
    done
    [[ ${HPRE[legacy-1]} != "${HPRE[legacy-$HISTORY]}" ]] || die "the two histories end in the same commit"
    fact "history	commits" "$(git --git-dir="$WORK/h-legacy-$HISTORY.git" rev-list --count HEAD)"
    # Points the work tree at one history, and settles it there.
    use() { # LAYOUT DEPTH
        printf 'gitdir: %s\n' "$WORK/h-$1-$2.git" >"$WORK/h-$1/.git"
        PRE[$WORK/h-$1]=${HPRE[$1-$2]}
        settle "$WORK/h-$1" "${HPRE[$1-$2]}"
    }
    # One untimed promotion in each (it warms the page cache, as the runs before each size's cells do).
    for layout in legacy native; do
        for depth in 1 "$HISTORY"; do
            use $layout "$depth"
            "$PROMOTE" -C "$WORK/h-$layout" to staging >/dev/null 2>&1 || die "promote to staging failed ($layout, $depth commits)"
        done
    done
    say "history: promote dev -> staging"
    for ((run = 1; run <= HRUNS; run++)); do
        for tool in baseline promote-legacy promote-native; do
            [[ $tool == baseline && $BASELINE != 1 ]] && continue
            layout=legacy
            [[ $tool == promote-native ]] && layout=native
            wt=$WORK/h-$layout
            # Odd runs take the short history first, even runs the long one: no order bias.
            local order=(1 "$HISTORY")
            ((run % 2)) || order=("$HISTORY" 1)
            for depth in "${order[@]}"; do
                use $layout "$depth"
                if [[ $tool == baseline ]]; then
                    timed "$BENCH/baseline/promote.sh" -C "$wt" staging
                else
                    timed "$PROMOTE" -C "$wt" to staging
                fi
                [[ $(head_of "$wt") != "${HPRE[$layout-$depth]}" ]] || die "$tool made no commit"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "history-$depth" "$n" "$layout" "${tool%-*}" "$run" "$LAST_US" "$LAST_CPU" >>"$RAW"
            done
        done
        printf '.' >&2
    done
    echo >&2
}

# `promote report --html` on N services and R deploy.log records (spread over 60 days, 30 in the window).
bench_report() { # SERVICES RECORDS
    local n=$1 records=$2 R=$WORK/report-$1 site=$WORK/site run
    say "report: $n services, $records deploy.log records"
    gen "$R" "$n" native
    python3 "$BENCH/gen_log.py" "$R" --records "$records" --end "$PROMOTE_NOW" >/dev/null
    "$PROMOTE" -C "$R" render >/dev/null 2>&1 || die "promote render failed on the repository bench/gen_log.py wrote"
    git -C "$R" commit -q -a -m "deploy logs: $records records"
    PRE[$R]=$(head_of "$R")
    "$PROMOTE" -C "$R" log --verify >/dev/null 2>&1 || die "bench/gen_log.py wrote logs that \`promote log --verify\` refuses"
    # One untimed run: it warms the page cache, measures the peak memory, and checks what the page holds.
    "$PROMOTE" -C "$R" report --html "$site" 2>"$WORK/report.err" >/dev/null || die "report failed: $(cat "$WORK/report.err")"
    grep -q "$n services in 3 environments, $records deploy.log records" "$WORK/report.err" ||
        die "the report does not say it read $n services and $records records: $(cat "$WORK/report.err")"
    peak report "$n" native "$R" "$PROMOTE" -C "$R" report --html "$site"
    for ((run = 1; run <= RUNS; run++)); do
        timed "$PROMOTE" -C "$R" report --html "$site"
        printf 'report\t%s\tnative\tpromote\t%s\t%s\t%s\n' "$n" "$run" "$LAST_US" "$LAST_CPU" >>"$RAW"
        printf '.' >&2
    done
    echo >&2
    fact "report	records" "$records"
    fact "report	bytes" "$(stat -c %s "$site/index.html")"
    [[ ${BENCH_KEEP:-} == 1 ]] || rm -rf "$R"
}

# ---------------------------------------------------------------------------------------------

T0=$SECONDS
fact "date" "$(date -u +'%Y-%m-%d %H:%M UTC')"
fact "nproc" "$(nproc)"
fact "cpu" "$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || uname -m)"
fact "kernel" "$(uname -sr)"
fact "load" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
fact "git" "$(git --version | cut -d' ' -f3)"
fact "jq" "$( ((BASELINE)) && jq --version || echo none)"
fact "sed" "$(sed --version 2>/dev/null | head -1 || echo sed)"
fact "promote" "$("$PROMOTE" --version 2>/dev/null | head -1) ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]] && echo ', with uncommitted changes'))"
fact "runs" "$RUNS"
fact "hruns" "$HRUNS"
fact "budget" "$BUDGET"
fact "memtool" "$MEM_TOOL"

for n in $SIZES; do
    bench_size "$n"
done
if ((HISTORY > 1)); then
    bench_history
fi
if [[ -n $REPORT ]]; then
    # shellcheck disable=SC2086
    bench_report $REPORT
fi
fact "load-end" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
fact "elapsed" "$((SECONDS - T0))"

python3 "$BENCH/report.py" "$RAW" >"$WORK/results.md"
mkdir -p "$(dirname "$OUT")"
cp "$WORK/results.md" "$OUT"
cp "$RAW" "${OUT%.md}.tsv"
cat "$WORK/results.md"
TSV=${OUT%.md}.tsv
say "written to ${OUT#"$ROOT"/}, every run to ${TSV#"$ROOT"/} (\`bench/report.py ${TSV#"$ROOT"/}\` remakes the table); took $((SECONDS - T0)) s"
