#!/usr/bin/env bash
# Every install path the README gives, exercised for real (`make check-install`, run by CI after
# `make test`): `make install` into a temporary prefix; the .deb built, installed with apt-get in a
# clean state, used and removed; the GitHub Action's install script from that .deb and from source;
# the action and the README's workflows checked by actionlint and their schemas; the Cloud Build
# example and the Dockerfile linted. Needs root for apt-get (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-target/venv}
tools=$(cd "$VENV/bin" && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
start=$SECONDS
step() { printf '\n--- check-install: %s (at %ss)\n' "$*" $((SECONDS - start)); }
fail() {
  echo "check-install: $*" >&2
  exit 1
}
# The demo is long: its output is shown only when it fails.
demo() {
  scripts/demo.sh "$1" > "$scratch/demo.log" 2>&1 || {
    cat "$scratch/demo.log"
    fail "the demo failed with $1"
  }
  grep -q "promote staging -> prod" "$scratch/demo.log" || fail "the demo with $1 promoted nothing"
  echo "demo: ok with $1"
}
expect_version() {
  local got
  got=$("$1" --version)
  [[ $got == "promote $version" ]] || fail "$1 --version says '$got', not 'promote $version'"
  echo "$got"
}

step "make install PREFIX=<temp>: cargo install, man pages, completions"
prefix="$scratch/prefix"
make --no-print-directory install PREFIX="$prefix"
expect_version "$prefix/bin/promote"
page=$(MANPATH="$prefix/share/man" man -w promote-to)
[[ $page == "$prefix/share/man/man1/promote-to.1.gz" ]] || fail "man -w promote-to found '$page'"
MANPATH="$prefix/share/man" MANPAGER="cat" man promote-set-image | grep -q -- '--sha' || fail "man promote-set-image"
bash -c "source '$prefix/share/bash-completion/completions/promote' && complete -p promote" | grep -q _promote
zsh -n "$prefix/share/zsh/site-functions/_promote"
fish --no-config -c "source '$prefix/share/fish/vendor_completions.d/promote.fish'; complete -C 'promote pre'" | grep -q '^preview'
demo "$prefix/bin/promote"
make --no-print-directory uninstall PREFIX="$prefix" > /dev/null
[[ ! -e $prefix/bin/promote && ! -e $prefix/share/man/man1/promote.1.gz ]] || fail "make uninstall left files"

step "make deb; apt-get install ./promote.deb; use it; apt-get remove"
make --no-print-directory deb
debs=(target/debian/promote_"$version"-*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "make deb made ${debs[*]}"
deb=${debs[0]}
dpkg-deb --field "$deb" Package Version Depends
dpkg-deb --field "$deb" Depends | grep -qw git || fail "$deb does not depend on git"
if dpkg-query -W -f '${Status}' promote 2> /dev/null | grep -q 'install ok installed'; then
  echo "removing the promote package installed before, to install into a clean state"
  apt-get remove -y -qq promote > "$scratch/apt.log"
fi
[[ ! -e /usr/bin/promote ]] || fail "/usr/bin/promote exists before the package is installed"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$deb" > "$scratch/apt.log" 2>&1 || {
  cat "$scratch/apt.log"
  fail "apt-get install ./$deb failed"
}
echo "installed: $(dpkg-query -W -f '${Package} ${Version}' promote)"
# If anything below fails, the package goes again all the same.
trap 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq promote > /dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
for f in /usr/bin/promote /usr/share/man/man1/promote.1.gz /usr/share/man/man1/promote-preview-up.1.gz \
  /usr/share/bash-completion/completions/promote /usr/share/zsh/vendor-completions/_promote \
  /usr/share/fish/vendor_completions.d/promote.fish /usr/share/doc/promote/copyright; do
  dpkg -S "$f" > /dev/null || fail "the package does not own $f"
done
[[ $(command -v promote) == /usr/bin/promote ]] || fail "promote on PATH is $(command -v promote)"
expect_version /usr/bin/promote
[[ $(man -w promote-to) == /usr/share/man/man1/promote-to.1.gz ]] || fail "man -w promote-to: $(man -w promote-to)"
MANPAGER="cat" man promote-to | grep -q -- '--only' || fail "man promote-to"
HOME="$scratch" fish -c "complete -C 'promote to --on'" | grep -q '^--only' || fail "fish does not complete from the package"
demo /usr/bin/promote
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq promote > "$scratch/apt.log" 2>&1
[[ ! -e /usr/bin/promote ]] || fail "/usr/bin/promote is still there after apt-get remove"
echo "removed: /usr/bin/promote is gone"

step "the GitHub Action: install.sh from the .deb (a release asset) and from source"
gha="$scratch/gha"
mkdir -p "$gha"
sum=$(sha256sum "$deb") && sum=${sum%% *}
out="$gha/out-release" path_file="$gha/path-release"
GITHUB_ACTION_PATH=$PWD RUNNER_TEMP="$gha" GITHUB_OUTPUT="$out" GITHUB_PATH="$path_file" \
  PROMOTE_RELEASE_URL="file://$PWD/$deb" PROMOTE_RELEASE_SHA256="$sum" action/install.sh
expect_version "$(cat "$path_file")/promote"
grep -qx "path=$gha/promote-release/bin/promote" "$out" || fail "install.sh output: $(cat "$out")"
if GITHUB_ACTION_PATH=$PWD RUNNER_TEMP="$gha" GITHUB_OUTPUT=/dev/null GITHUB_PATH=/dev/null \
  PROMOTE_RELEASE_URL="file://$PWD/$deb" PROMOTE_RELEASE_SHA256=0000 action/install.sh 2> "$gha/err"; then
  fail "install.sh accepted an asset whose SHA-256 differs"
fi
grep -q 'SHA-256' "$gha/err" || fail "install.sh: $(cat "$gha/err")"
out="$gha/out-key"
GITHUB_ACTION_PATH=$PWD RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TOOL_CACHE="$gha/cache" GITHUB_OUTPUT="$out" action/cache-key.sh
dir=$(sed -n 's/^dir=//p' "$out")
# The cargo path, reusing this checkout's release build (CARGO_TARGET_DIR): the runner builds it.
GITHUB_ACTION_PATH=$PWD CARGO_TARGET_DIR=$PWD/target PROMOTE_INSTALL_DIR="$dir" \
  GITHUB_OUTPUT="$gha/out-cargo" GITHUB_PATH="$gha/path-cargo" action/install.sh
expect_version "$(cat "$gha/path-cargo")/promote"
GITHUB_ACTION_PATH=$PWD PROMOTE_INSTALL_DIR="$dir" GITHUB_OUTPUT=/dev/null GITHUB_PATH=/dev/null \
  action/install.sh | grep -q "restored from the cache" || fail "install.sh rebuilt what the cache restored"

step "actionlint on the action (through the README's workflows, with uses: ./) and the schemas"
project="$scratch/actionlint"
mkdir -p "$project/.github/workflows"
cp -R action.yml action "$project/"
for wf in examples/github-actions/*.yaml; do
  sed 's|uses: OWNER/promote@[^ ]*|uses: ./|' "$wf" > "$project/.github/workflows/$(basename "$wf")"
  grep -q 'uses: \./$' "$project/.github/workflows/$(basename "$wf")" || fail "$wf does not use the action"
done
git -C "$project" init -q
(cd "$project" && "$tools/actionlint" -shellcheck "$tools/shellcheck" -pyflakes '')
echo "actionlint: ok ($(cd "$project/.github/workflows" && echo *))"
"$tools/check-jsonschema" --builtin-schema vendor.github-actions action.yml
"$tools/check-jsonschema" --builtin-schema vendor.github-workflows examples/github-actions/*.yaml
"$tools/shellcheck" action/*.sh scripts/check-install.sh

step "the Cloud Build example: schema, and shellcheck on each step's script"
"$tools/check-jsonschema" --builtin-schema vendor.cloudbuild examples/cloud-build/cloudbuild.yaml
python3 - "$scratch" examples/cloud-build/cloudbuild.yaml << 'PY'
import json, re, sys
# No YAML library here: the steps' scripts are the `- |` blocks under `args:`.
out, path = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
n = 0
for i, line in enumerate(lines):
    if line.strip() == "- |":
        indent = len(line) - len(line.lstrip()) + 2
        body = []
        for l in lines[i + 1:]:
            if l.strip() and len(l) - len(l.lstrip()) < indent:
                break
            body.append(l[indent:])
        # Cloud Build turns $$ into $ and fills ${_X} / $PROJECT_ID before bash runs.
        script = "\n".join(body).replace("$$", "$")
        n += 1
        open(f"{out}/cloudbuild-step{n}.sh", "w").write("#!/usr/bin/env bash\n" + script)
print(f"{n} step scripts")
if n < 4:
    sys.exit("expected 4 step scripts")
PY
"$tools/shellcheck" -e SC2154 "$scratch"/cloudbuild-step*.sh

step "the Dockerfile: hadolint, and its builder stage's COPY lines are all the build needs"
"$tools/hadolint" Dockerfile && echo "hadolint: Dockerfile ok"
context="$scratch/docker-context"
mkdir -p "$context"
# The builder stage's `COPY SRC... DEST` lines (up to the second FROM), copied as Docker would.
awk '/^FROM / { n++ } n == 1 && /^COPY / && !/--from/ { $1 = ""; print }' Dockerfile |
  while read -r -a words; do
    dest=${words[-1]}
    unset 'words[-1]'
    mkdir -p "$context/$dest"
    for src in "${words[@]}"; do
      if [[ -d $src ]]; then cp -R "$src/." "$context/$dest/"; else cp "$src" "$context/$dest/"; fi
    done
  done
echo "build context: $(cd "$context" && echo *)"
# Checked, not built: the compiler's front end (include_bytes! and all) sees every file it needs.
target=$PWD/target
(cd "$context" && cargo check --locked --quiet --target-dir "$target")
echo "cargo check: ok with only what the builder stage copies"

step "done in $((SECONDS - start))s"
