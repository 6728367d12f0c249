#!/usr/bin/env bash
# Baseline: CI right after the image build, every service built from one commit.
#   bench/baseline/set-image.sh [-C DIR] ENV SHA
. "$(dirname "$0")/common.sh"
env=$1 sha=$2
meta=$(meta_of "$env")
now=$(now_utc)
head=$(git rev-parse HEAD)
jq --arg sha "$sha" --arg now "$now" --arg reg "$REGISTRY" --arg commit "$head" '
    .services |= with_entries(
        if .value.version == $sha then .
        else .value = {version: $sha, image: "\($reg)/\(.key):\($sha)", commit: $commit, updated: $now}
        end)
    | .updated = $now' "$meta" > "$meta.tmp"
mv "$meta.tmp" "$meta"

load_versions "$env"
render_env "$env"

echo "$now $(who) set-image $env $sha" >> "$env/deploy.log"

git add "$env"
git commit -q -m "set-image $env $sha"
echo "set $env to $sha"
