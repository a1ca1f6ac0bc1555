#!/usr/bin/env bash
# Print the path of a python3 that can import kazoo and pytest (the kazoo acceptance suite's
# needs). The system python3 is used when it has both; otherwise they are installed into a
# virtualenv under target/pyenv (not committed; reused by later runs), or, where venv is not
# available, with `pip install --user`. Everything it installs is logged to stderr.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACKAGES=("kazoo==2.11.0" "pytest>=8,<10")

has_deps() { "$1" -c 'import kazoo, pytest' 2>/dev/null; }

if has_deps python3; then
    command -v python3
    exit 0
fi
VENV="$ROOT/target/pyenv"
if [[ -x $VENV/bin/python ]] && has_deps "$VENV/bin/python"; then
    echo "$VENV/bin/python"
    exit 0
fi
echo "pydeps.sh: installing ${PACKAGES[*]} into $VENV" >&2
if python3 -m venv "$VENV" >&2 &&
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}" >&2; then
    echo "$VENV/bin/python"
    exit 0
fi
echo "pydeps.sh: venv unavailable; pip install --user ${PACKAGES[*]}" >&2
python3 -m pip install --quiet --disable-pip-version-check --user "${PACKAGES[@]}" >&2
has_deps python3 || { echo "pydeps.sh: kazoo/pytest still not importable" >&2; exit 2; }
command -v python3
