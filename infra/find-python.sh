#!/usr/bin/env bash
# Prints the path of a real Python 3.13 interpreter (not a pyenv shim), or explains how to get one.
set -euo pipefail
want="${PYTHON_VERSION_WANTED:-3.13}"
if command -v pyenv >/dev/null 2>&1; then
  prefix=$(pyenv prefix "$want" 2>/dev/null | head -n1 || true)
  if [ -n "$prefix" ] && [ -x "$prefix/bin/python$want" ]; then
    echo "$prefix/bin/python$want"
    exit 0
  fi
fi
path=$(command -v "python$want" 2>/dev/null || true)
# A pyenv shim is on PATH even when that version is not selected: make sure it really runs.
if [ -n "$path" ] && "$path" -c 'import sys' >/dev/null 2>&1; then
  echo "$path"
  exit 0
fi
# Only shell built-ins from here: the message must print even on a bare PATH.
printf '%s\n' \
  "error: Python $want was not found." \
  "  LocalStack's host runtime and the Lambda functions need Python $want." \
  "  Install it with one of:" \
  "    pyenv install $want   (then run the command again; the version need not be selected)" \
  "    apt-get install python$want python$want-venv   (where the distribution ships it)" \
  "  or put a python$want executable on PATH." >&2
exit 1
