#!/usr/bin/env bash
# Creates (once) the Python virtualenv with the official Alibaba Cloud SDKs that the interop
# tests use, and prints its path. Kept outside the clone, keyed by the requirements' hash, so a
# warm run reuses it and a changed pin builds a fresh one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
requirements="$root/tests/interop/requirements.txt"
cache="${RAM_OPERATOR_CACHE:-$HOME/.cache/ram-operator}"
key=$( (python3 --version; cat "$requirements") | sha256sum | cut -c1-16)
venv="$cache/venv-$key"
if [ ! -x "$venv/bin/pytest" ]; then
  echo "building Python virtualenv $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
fi
echo "$venv"
