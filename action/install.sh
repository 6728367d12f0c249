#!/usr/bin/env bash
# Installs promote for the action and puts its directory on PATH (GITHUB_PATH):
# - PROMOTE_RELEASE_URL set: downloads that asset (the binary, or a .deb unpacked without root),
#   checked against PROMOTE_RELEASE_SHA256 when given;
# - otherwise: `cargo install` of the action's own source into PROMOTE_INSTALL_DIR, which
#   actions/cache restored when this source was built before (then nothing is built).
set -euo pipefail

if [[ -n ${PROMOTE_RELEASE_URL:-} ]]; then
  dir=${RUNNER_TEMP:?}/promote-release
  rm -rf "$dir" && mkdir -p "$dir/bin"
  asset="$dir/asset"
  echo "downloading $PROMOTE_RELEASE_URL"
  curl --fail --silent --show-error --location --retry 3 --output "$asset" -- "$PROMOTE_RELEASE_URL"
  if [[ -n ${PROMOTE_RELEASE_SHA256:-} ]]; then
    actual=$(sha256sum "$asset") && actual=${actual%% *}
    if [[ $actual != "${PROMOTE_RELEASE_SHA256,,}" ]]; then
      echo "::error::promote release asset: SHA-256 $actual, expected $PROMOTE_RELEASE_SHA256 (release-sha256)" >&2
      exit 1
    fi
  fi
  if [[ $(head -c 7 "$asset") == '!<arch>' ]]; then
    # A .deb: take usr/bin/promote out of it (no root needed, nothing registered with dpkg).
    dpkg-deb --extract "$asset" "$dir/deb"
    mv "$dir/deb/usr/bin/promote" "$dir/bin/promote"
    rm -rf "$dir/deb"
  else
    mv "$asset" "$dir/bin/promote"
  fi
  chmod 755 "$dir/bin/promote"
else
  dir=${PROMOTE_INSTALL_DIR:?the cache-key step sets it}
  if [[ -x $dir/bin/promote ]] && "$dir/bin/promote" --version > /dev/null; then
    echo "promote restored from the cache: $dir/bin/promote"
  else
    cargo install --locked --path "$GITHUB_ACTION_PATH" --root "$dir"
  fi
fi

"$dir/bin/promote" --version
echo "$dir/bin" >> "$GITHUB_PATH"
echo "path=$dir/bin/promote" >> "$GITHUB_OUTPUT"
