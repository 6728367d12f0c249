#!/usr/bin/env bash
# Baseline: `make promote/<env>` of a legacy config repository.
#   bench/baseline/promote.sh [-C DIR] ENV
# ENV takes the versions of the environment it promotes from, every template of ENV is rendered with
# sed, the metadata is updated with jq, a line is appended to deploy.log, and the environment is
# committed.
. "$(dirname "$0")/common.sh"
target=$1
src=$(source_of "$target")
src_meta=$(meta_of "$src")
dst_meta=$(meta_of "$target")

# Nothing to promote when the target already runs the source's versions.
if jq -en --slurpfile a "$src_meta" --slurpfile b "$dst_meta" \
    '($a[0].services | map_values(.version)) == ($b[0].services | map_values(.version))' >/dev/null; then
    echo "nothing to promote: $target already runs what $src runs"
    exit 0
fi

load_versions "$src"
render_env "$target"

now=$(now_utc)
head=$(git rev-parse HEAD)
jq --slurpfile src "$src_meta" --arg now "$now" --arg from "$src" --arg commit "$head" '
    .services as $old
    | .services = ($src[0].services | with_entries(
        if $old[.key].version == .value.version then .value = $old[.key]
        else .value = {version: .value.version, image: .value.image, from: $from, commit: $commit, updated: $now}
        end))
    | .updated = $now' "$dst_meta" > "$dst_meta.tmp"
mv "$dst_meta.tmp" "$dst_meta"

echo "$now $(who) promote $src -> $target" >> "$target/deploy.log"

git add "$target"
git commit -q -m "promote $src -> $target"
echo "promoted $src -> $target"
