# Shared by the baseline scripts: the legacy "lazy man's templating" flow that promote replaces, as
# such repositories have it (one sed process per template, jq for the metadata, git for the commit).
# It works on the legacy layout bench/gen.py makes: <env>/*.yaml.tpl beside <env>/*.yaml,
# <env>/metadata.json.noargo and <env>/deploy.log.
#
# This is the honest baseline: no deliberate slowness, and no rewrite in a faster language either.
# Where the classic script would be needlessly slow (a jq process per service), it is not.

set -euo pipefail

REGISTRY=registry.example.com/bench

# Run in the repository: `-C DIR` as the first argument, like git and promote.
if [[ ${1:-} == -C ]]; then
    cd "$2"
    shift 2
fi

# The pipeline, as the script's `case` has it.
source_of() {
    case $1 in
        staging) echo dev ;;
        prod) echo staging ;;
        *) echo "no environment promotes into $1" >&2; return 1 ;;
    esac
}

# Each environment's values, as the script (or its env file) has them.
env_values() {
    case $1 in
        dev) ns=bench-dev prefix=dev. ;;
        staging) ns=bench-staging prefix=staging. ;;
        prod) ns=bench-prod prefix= ;;
        *) echo "unknown environment $1" >&2; return 1 ;;
    esac
}

meta_of() { echo "$1/metadata.json.noargo"; }

# ver[service]=version, from an environment's metadata: one jq process.
load_versions() {
    declare -gA ver=()
    local s v
    while read -r s v; do
        ver[$s]=$v
    done < <(jq -r '.services | to_entries[] | "\(.key) \(.value.version)"' "$(meta_of "$1")")
}

# Renders every template of an environment with the versions in `ver`: one sed process per file.
# A template is named after its service: <service>-<kind>.yaml.tpl.
render_env() {
    local env=$1 tpl svc
    env_values "$env"
    for tpl in "$env"/*.yaml.tpl; do
        svc=${tpl##*/}
        svc=${svc%-*}
        sed "s/COMMIT_SHA/${ver[$svc]}/g; s/NAMESPACE_PLACEHOLDER/$ns/g; s/DOMAIN_PREFIX/$prefix/g" \
            "$tpl" > "${tpl%.tpl}"
    done
}

now_utc() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# The author for deploy.log, as the script finds it.
who() { git config user.name || id -un; }
