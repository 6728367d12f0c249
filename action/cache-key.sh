#!/usr/bin/env bash
# The actions/cache key and directory of a promote built from this action's source: a hash of the
# files the build reads (hashFiles() sees only the workspace, not the action's own checkout).
set -euo pipefail
cd "$GITHUB_ACTION_PATH"
hash=$(find Cargo.toml Cargo.lock src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum)
hash=${hash%% *}
{
  echo "key=promote-${RUNNER_OS:-os}-${RUNNER_ARCH:-arch}-$hash"
  echo "dir=${RUNNER_TOOL_CACHE:-$RUNNER_TEMP}/promote/$hash"
} >> "$GITHUB_OUTPUT"
