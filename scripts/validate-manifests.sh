#!/bin/sh
# Validates every rendered manifest of every environment against the Kubernetes 1.30 schemas, offline,
# in one invocation (each process costs about 0.2 s of start-up, so one process for all the files).
#
#   scripts/validate-manifests.sh      (from anywhere; it works on the repository it lives in)
#
# Installs nothing. Needs kubernetes-validate (`pip install kubernetes-validate`) on PATH, or its path
# in KUBERNETES_VALIDATE (`make validate` puts one in a venv under target/).
# --strict rejects unknown fields. Kinds with no bundled schema (ServiceMonitor and other CRDs) are
# skipped, not failed, and --no-warn keeps them quiet. Exits with kubernetes-validate's own code:
# 0 all valid, 1 a schema violation or a YAML parse error, 2 a tool error, 3 both.
set -eu

cd "$(dirname "$0")/.."
validator=${KUBERNETES_VALIDATE:-kubernetes-validate}

if ! command -v "$validator" >/dev/null 2>&1; then
    echo "error: \`$validator\` is not installed" >&2
    echo "hint: pip install kubernetes-validate (or \`make validate\`, which uses a venv)" >&2
    exit 2
fi

set -- environments/*/manifests/*.yaml
if [ ! -e "$1" ]; then
    echo "error: no rendered manifests in environments/*/manifests/" >&2
    echo "hint: run \`promote render\`" >&2
    exit 1
fi

status=0
"$validator" -k 1.30 --strict --quiet --no-warn "$@" || status=$?
if [ "$status" -eq 0 ]; then
    echo "validated $# manifest files against Kubernetes 1.30" >&2
fi
exit "$status"
