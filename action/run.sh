#!/usr/bin/env bash
# Runs one promote command as the action's inputs say. Each input arrives as an environment
# variable and becomes exactly one argument (`images`: one per word; `args`: one per line): nothing
# an input holds is ever parsed by the shell.
set -euo pipefail

dir=${INPUT_WORKING_DIRECTORY:-.}
if [[ -n ${INPUT_GIT_USER_NAME:-} ]]; then git -C "$dir" config user.name "$INPUT_GIT_USER_NAME"; fi
if [[ -n ${INPUT_GIT_USER_EMAIL:-} ]]; then git -C "$dir" config user.email "$INPUT_GIT_USER_EMAIL"; fi

# Options first, in their `--name=value` form so that a value starting with `-` stays a value; then
# the extra arguments; then `--` and the positional ones, so an environment cannot pass for an option.
read -r -a command <<< "${INPUT_COMMAND:?the command input is empty}"
args=(-C "$dir" "${command[@]}")
if [[ -n ${INPUT_SHA:-} ]]; then args+=("--sha=$INPUT_SHA"); fi
if [[ -n ${INPUT_ONLY:-} ]]; then args+=("--only=$INPUT_ONLY"); fi
if [[ -n ${INPUT_MESSAGE:-} ]]; then args+=("--message=$INPUT_MESSAGE"); fi
case ${INPUT_PUSH:-false} in
  true) args+=(--push) ;;
  false | '') ;;
  *)
    echo "::error::promote action: push must be \`true\` or \`false\`, not \`$INPUT_PUSH\`" >&2
    exit 2
    ;;
esac
case ${INPUT_PR:-false} in
  true) args+=(--pr) ;;
  auto) args+=(--pr=auto) ;;
  false | '') ;;
  *)
    echo "::error::promote action: pr must be \`true\`, \`auto\` or \`false\`, not \`$INPUT_PR\`" >&2
    exit 2
    ;;
esac
while IFS= read -r line; do
  if [[ -n $line ]]; then args+=("$line"); fi
done <<< "${INPUT_ARGS:-}"

positional=()
if [[ -n ${INPUT_ENVIRONMENT:-} ]]; then positional+=("$INPUT_ENVIRONMENT"); fi
set -f # the pairs are split on whitespace, never glob-expanded
# shellcheck disable=SC2206 # word splitting is the point here
positional+=(${INPUT_IMAGES:-})
set +f
if ((${#positional[@]})); then args+=(-- "${positional[@]}"); fi

printf 'promote'
printf ' %q' "${args[@]}"
printf '\n'
exec promote "${args[@]}"
