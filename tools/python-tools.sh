#!/usr/bin/env bash
# The Python the tests' tools run on: a virtual environment in .build/python-tools (made once,
# ignored by git like the rest of .build), on the python3 first on the PATH, that also sees that
# Python's own packages. What the tools import and that Python lacks is installed into it:
# aiosmtpd (tools/mail/smtp-sink.py), PyJWT and cryptography (tools/verify-token.py), selenium
# (tools/console/browser-test.py), schemathesis (tools/api-check.sh). Debian's python3 refuses
# `pip install` into itself (PEP 668); a virtual environment takes it.
#
#   PATH="$(tools/python-tools.sh):$PATH"      (prints the environment's bin directory)
#
# Needs python3 with its venv module (Debian: python3-venv, which ./build.sh test installs).
# Packages in the user's own site directory (~/.local) are not seen: PYTHONNOUSERSITE here,
# and in ./build.sh test for every python3 the tests start.
set -euo pipefail
export PYTHONNOUSERSITE=1
cd "$(dirname "$0")/.."
venv=.build/python-tools
if [ ! -x "$venv/bin/python3" ]; then
    mkdir -p .build
    python3 -m venv --clear --system-site-packages "$venv" >&2 || {
        rm -rf "$venv"
        echo "python-tools.sh: python3 -m venv failed (on Debian, install python3-venv)" >&2
        exit 1
    }
fi
# module:requirement; the versions the test command last passed with (a newer schemathesis or
# selenium may change what a run does: move a pin on purpose, with a run of the tests).
wanted=(aiosmtpd:aiosmtpd==1.4.6 jwt:"pyjwt>=2.6,<3" cryptography:"cryptography>=38" selenium:selenium==4.51.0
    schemathesis:schemathesis==4.32.5)
missing=()
for pair in "${wanted[@]}"; do
    "$venv/bin/python3" -c "import ${pair%%:*}" 2>/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "python-tools.sh: installing ${missing[*]} into $venv" >&2
    "$venv/bin/python3" -m pip install -q --disable-pip-version-check "${missing[@]}" >&2
fi
echo "$(pwd)/$venv/bin"
