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
for candidate in "python$want" "/usr/bin/python$want" "/usr/local/bin/python$want"; do
  path=$(command -v "$candidate" 2>/dev/null || true)
  # A pyenv shim exists on PATH even when the version is not selected: make sure it runs.
  if [ -n "$path" ] && "$path" -c 'import sys' >/dev/null 2>&1; then
    echo "$path"
    exit 0
  fi
done
cat >&2 <<MSG
error: Python $want was not found.
  LocalStack's host runtime and the Lambda functions need Python $want.
  Install it with one of:
    pyenv install $want            (then run this command again; no need to select it)
    apt-get install python$want python$want-venv   (Debian/Ubuntu releases that ship it)
  or put a python$want binary on PATH.
MSG
exit 1
