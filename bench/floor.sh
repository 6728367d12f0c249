#!/usr/bin/env bash
# The floor: the least any tool must pay for a change, to compare promote against.
#   bench/floor.sh REPO STASH GLOB...
# Reads every file matching the GLOBs (relative to REPO: the templates, and whatever else the change
# must read) with one `cat`, then, unless STASH is `-`, writes the changed files (STASH/tree, a copy of
# exactly the files the change writes, made beforehand) with one `cp`, adds exactly those files
# (listed in STASH/files) to the index and commits. No rendering, no checks, no audit: bytes and git.
#
# The files are added with `git update-index --add --remove --stdin`, which looks each path up in the
# index: that is git add's work without its pathspec matching. `git add -- <1,000 paths>` matches
# every pathspec against every index entry, and on a 24,000-file repository that alone costs ~0.35 s
# more (measured on the 2-core bench machine) -- a cost no tool has to pay, so not part of the floor.
set -euo pipefail
cd "$1"
stash=$2
shift 2
shopt -s nullglob
# shellcheck disable=SC2068  # the globs are meant to expand here
cat -- $@ > /dev/null
[[ $stash == - ]] && exit 0
cp -R "$stash/tree/." .
git update-index --add --remove --stdin <"$stash/files"
git commit -q -m "floor"
