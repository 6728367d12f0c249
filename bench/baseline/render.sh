#!/usr/bin/env bash
# Baseline: render every environment (or the ones named) from its templates and metadata.
#   bench/baseline/render.sh [-C DIR] [ENV...]
. "$(dirname "$0")/common.sh"
envs=("$@")
[[ ${#envs[@]} -gt 0 ]] || envs=(dev staging prod)
for env in "${envs[@]}"; do
    load_versions "$env"
    render_env "$env"
done
