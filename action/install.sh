#!/usr/bin/env bash
# The action's install step: orgctl in its own venv, put on PATH for the steps after.
# Dependencies: exactly the files hashed in requirements/runtime.txt (--require-hashes), binary
# wheels only. orgctl: this directory's source at the commit the workflow pinned, built with
# the hashed setuptools, no index, no build isolation (which would fetch unhashed packages).
#   env: ACTION_DIR (the action's checkout), PYTHON, WANT_VERSION (may be empty),
#        RUNNER_TEMP, GITHUB_PATH (set by the runner)
set -euo pipefail
venv="${RUNNER_TEMP:?}/orgctl-venv"
"${PYTHON:?}" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --require-hashes --only-binary :all: --no-deps \
  -r "${ACTION_DIR:?}/requirements/runtime.txt"
"${pip[@]}" install --no-deps --no-index --no-build-isolation "$ACTION_DIR"
version=$("$venv/bin/orgctl" --version)
echo "$version"
if [ -n "${WANT_VERSION:-}" ] && [ "${version#orgctl }" != "$WANT_VERSION" ] \
  && [[ "${version#orgctl }" != "$WANT_VERSION "* ]]; then
  echo "::error title=orgctl version::the action's commit holds ${version#orgctl }, not ${WANT_VERSION}: pin the SHA of the v${WANT_VERSION} release, or change orgctl-version"
  exit 1
fi
echo "$venv/bin" >>"${GITHUB_PATH:?}"
