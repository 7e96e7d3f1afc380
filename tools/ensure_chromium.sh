#!/bin/sh
# Make sure headless Chromium is there for tests/test_report_browser.py (Debian's package).
# Installs it only when running as root with apt-get (CI, containers); otherwise prints how.
# Never fails: without Chromium the browser test skips with the same hint.
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if [ -z "$IAMFORENSICS_NO_APT" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: installing chromium with apt-get (for the report browser test)"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
        exit 0
    fi
    echo "ensure_chromium: apt-get could not install chromium; the browser test will be skipped"
    exit 0
fi
echo "ensure_chromium: $CHROMIUM not found; the report browser test will be skipped" \
    "(enable it with 'apt-get install chromium' as root, or run 'make pytest' as root)"
exit 0
