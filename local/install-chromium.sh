#!/bin/sh
# The gallery's browser test drives Debian's chromium headless. Install it when it is missing
# (CI is a fresh Debian machine running as root); elsewhere, say what to run.
set -eu
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "chromium is missing: run 'apt-get install -y chromium' as root, then make test again" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
