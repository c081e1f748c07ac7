#!/usr/bin/env bash
# Installs what pgmove-dms's tests need: moto's server (a local DMS API), pinned.
# Called by .ci/run; safe to run again. PYTHON picks the interpreter (default python3), the
# same variable the tests read.
set -euo pipefail
MOTO_VERSION=5.2.1
PY=${PYTHON:-python3}
if "$PY" -c "import moto, flask, flask_cors, werkzeug, sys; sys.exit(0 if moto.__version__ == '$MOTO_VERSION' else 1)" 2>/dev/null; then
    exit 0
fi
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "$@" "moto[server]==$MOTO_VERSION"; }
# A Debian python3 refuses pip installs outside a venv (PEP 668); the test machine is ours.
pip_install || pip_install --break-system-packages
