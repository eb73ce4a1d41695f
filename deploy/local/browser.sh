#!/usr/bin/env bash
# Make sure Debian's headless-capable Chromium is installed for the dashboard's browser test, and print
# its path. Installs the `chromium` package with apt when it is missing (as root, or through sudo -n).
#
#   deploy/local/browser.sh          install if missing, print the executable's path
#   deploy/local/browser.sh path     print the path only (exit 1 when missing)
#
# The Python side is Playwright's package only (`pip install playwright`); its own browser downloads
# (`playwright install`) are never used: the test launches this executable.
set -euo pipefail

find_chromium() {
    local candidate
    for candidate in "${TOUCHSTREAM_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
        if [[ -n $candidate && -x $candidate ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if [[ ${1:-} == path ]]; then
    find_chromium
    exit $?
fi

if found=$(find_chromium); then
    echo "$found"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    apt=(apt-get)
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    apt=(sudo -n apt-get)
else
    echo "chromium is missing and apt-get needs root (run: sudo apt-get install -y chromium)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${apt[@]}" install -y --no-install-recommends chromium >/dev/null 2>&1; then
    "${apt[@]}" update -qq >/dev/null
    "${apt[@]}" install -y --no-install-recommends chromium >/dev/null
fi
find_chromium || { echo "apt-get installed chromium but no executable was found" >&2; exit 1; }
