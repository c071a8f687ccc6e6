#!/bin/sh
# Install what the bucket-page test drives: Debian's headless-capable Chromium, and the small
# websocket-client package (PyPI) through which tests/e2e/browser_page.py speaks the DevTools
# protocol to it. Idempotent and quiet; exits non-zero with a message when they cannot be had.
set -u
have() {
    command -v chromium >/dev/null 2>&1 && python3 -c 'import websocket' >/dev/null 2>&1
}
if have; then
    exit 0
fi
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromium >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null 2>&1
fi
if ! python3 -c 'import websocket' >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check websocket-client >/dev/null 2>&1 ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages websocket-client >/dev/null 2>&1
    command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1
fi
if ! have; then
    echo "test-deps-browser: could not install chromium (apt) and websocket-client (pip)" >&2
    exit 1
fi
