#!/usr/bin/env bash
# Creates the project's virtualenvs under .local/venvs. Idempotent: a part whose inputs did not
# change since its last install is skipped, so every make target can call this cheaply.
#
#   tools      uv, which installs everything else (fast, offline-friendly cache)
#   dev        the project itself (editable) with test and lint tools
#   localstack LocalStack's host runtime, pinned, plus the project's LocalStack extension
#   sam        AWS SAM CLI and samlocal
#   security   checkov and bandit for `make lint` (their pins clash with dev's)
#   rt-python3.13, rt-python3.12   what the Lambda runtime provides to functions (boto3)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venvs=$root/.local/venvs
mkdir -p "$venvs"

python313=$(infra/find-python.sh)
python312=$(PYTHON_VERSION_WANTED=3.12 infra/find-python.sh 2>/dev/null || true)

uv=$venvs/tools/bin/uv
if [ ! -x "$uv" ]; then
  echo "==> installing uv"
  "$python313" -m venv "$venvs/tools"
  "$venvs/tools/bin/pip" install --quiet uv==0.13.9
fi

# up_to_date NAME FILES...: true when the recorded hash of FILES matches the installed one.
stamp_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
up_to_date() {
  local name=$1; shift
  [ -f "$venvs/$name.stamp" ] && [ "$(cat "$venvs/$name.stamp")" = "$(stamp_hash "$@")" ]
}
mark_done() { local name=$1; shift; stamp_hash "$@" >"$venvs/$name.stamp"; }

install_venv() { # NAME PYTHON -- uv pip install args...
  local name=$1 python=$2; shift 2
  rm -rf "${venvs:?}/$name"
  "$uv" venv --quiet --python "$python" "$venvs/$name"
  VIRTUAL_ENV=$venvs/$name "$uv" pip install --quiet "$@"
}

dev_inputs=(pyproject.toml)
if ! up_to_date dev "${dev_inputs[@]}"; then
  echo "==> installing the project and its dev tools (.local/venvs/dev)"
  install_venv dev "$python313" -e ".[dev]"
  # The source folders on sys.path, so packages added later import without a reinstall.
  site_packages=$("$venvs/dev/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf '%s\n' "$root/functions" "$root/infra" >"$site_packages/sheetflow-sources.pth"
  mark_done dev "${dev_inputs[@]}"
fi

# The extension is installed editable: its entry points are fixed by its pyproject, its code is read
# from the source tree, so code changes need no reinstall.
ls_inputs=(infra/localstack-constraints.txt infra/localstack-requirements.txt
  infra/localstack-extension/pyproject.toml)
if ! up_to_date localstack "${ls_inputs[@]}"; then
  echo "==> installing LocalStack's host runtime (.local/venvs/localstack)"
  install_venv localstack "$python313" -c infra/localstack-constraints.txt \
    -r infra/localstack-requirements.txt -e ./infra/localstack-extension
  mark_done localstack "${ls_inputs[@]}"
fi

sam_inputs=(infra/sam-requirements.txt)
if ! up_to_date sam "${sam_inputs[@]}"; then
  echo "==> installing AWS SAM CLI (.local/venvs/sam)"
  install_venv sam "$python313" -r infra/sam-requirements.txt
  mark_done sam "${sam_inputs[@]}"
fi

security_inputs=(infra/security-requirements.txt)
if ! up_to_date security "${security_inputs[@]}"; then
  echo "==> installing checkov and bandit (.local/venvs/security)"
  install_venv security "$python313" -r infra/security-requirements.txt
  mark_done security "${security_inputs[@]}"
fi

rt_inputs=(infra/lambda-runtime-requirements.txt)
for runtime in python3.13 python3.12; do
  interpreter=$python313
  [ "$runtime" = python3.12 ] && interpreter=$python312
  if [ -z "$interpreter" ]; then
    echo "note: Python 3.12 not found; functions with runtime python3.12 will not run locally" >&2
    continue
  fi
  if ! up_to_date "rt-$runtime" "${rt_inputs[@]}"; then
    echo "==> preparing the Lambda runtime $runtime (.local/venvs/rt-$runtime)"
    install_venv "rt-$runtime" "$interpreter" -r infra/lambda-runtime-requirements.txt
    mark_done "rt-$runtime" "${rt_inputs[@]}"
  fi
done
