#!/usr/bin/env bash
# The action's command step. Records orgctl's exit code as the step output `exit-code`, and
# for plan and drift the paths of the Markdown, stderr and JSON files. orgctl itself appends
# the plan's Markdown to the job summary ($GITHUB_STEP_SUMMARY) and prints validation
# problems as annotations (GITHUB_ACTIONS=true).
#   env: COMMAND, ORG_DIR, ORGCTL_ARGS, FAIL_ON_ERROR, GITHUB_OUTPUT;
#        ORGCTL (default: orgctl on PATH, which the install step put there)
set -uo pipefail
orgctl=${ORGCTL:-orgctl}
org=${ORG_DIR:-org}
extra=()
if [ -n "${ORGCTL_ARGS:-}" ]; then
  read -r -a extra <<<"$ORGCTL_ARGS"
fi
ok=(0)
case "${COMMAND:-}" in
  validate)
    "$orgctl" validate "$org" --format github "${extra[@]}"
    code=$?
    ;;
  plan)
    "$orgctl" plan "$org" --format markdown --out plan.json "${extra[@]}" >plan.md 2>plan.err
    code=$?
    cat plan.err >&2
    { echo "markdown=plan.md"; echo "errors=plan.err"; echo "plan-json=plan.json"; } >>"$GITHUB_OUTPUT"
    ;;
  drift)
    "$orgctl" plan "$org" --detailed-exitcode --format markdown "${extra[@]}" >plan.md 2>plan.err
    code=$?
    cat plan.err >&2
    { echo "markdown=plan.md"; echo "errors=plan.err"; } >>"$GITHUB_OUTPUT"
    ok=(0 2) # 2: drift found, which the workflow reports; not a failed run
    ;;
  apply)
    "$orgctl" apply "$org" --yes "${extra[@]}"
    code=$?
    ;;
  *)
    echo "::error title=orgctl action::unknown command '${COMMAND:-}': use validate, plan, drift, apply or install"
    exit 1
    ;;
esac
echo "exit-code=$code" >>"$GITHUB_OUTPUT"
if [ "${FAIL_ON_ERROR:-true}" = "true" ] && [[ " ${ok[*]} " != *" $code "* ]]; then
  echo "::error title=orgctl ${COMMAND}::orgctl exited ${code} (1 error, 2 changes pending, 3 refused by a safety rule, 4 stale plan)"
  exit "$code"
fi
exit 0
