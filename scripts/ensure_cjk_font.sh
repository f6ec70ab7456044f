#!/usr/bin/env bash
# Make sure fontconfig has a font for Chinese (and Japanese/Korean) text, from the distribution's
# packages (Debian): fonts-wqy-microhei, 1.6 MB to download, against 56 MB for fonts-noto-cjk. It
# covers the CJK Unified Ideographs block (GB2312, GBK and Big5), kana and Hangul, which is what
# product names and scripts use.
#
# The report's browser test (tests/integration/reports/test_report_browser.py) runs it when
# `fc-list :lang=zh-cn` finds nothing, so Chromium draws the product names instead of empty boxes.
# This script only installs. Needs root or password-less sudo.
# Exit status 0: fontconfig lists a font for Simplified Chinese (zh-cn).
set -euo pipefail

installed() {
    command -v fc-list > /dev/null && [ -n "$(fc-list :lang=zh-cn family)" ]
}

if installed; then
    echo "A CJK font is installed: $(fc-match sans-serif:lang=zh-cn)"
    exit 0
fi
"$(dirname "$0")/apt_install.sh" "A CJK font" --no-install-recommends fontconfig fonts-wqy-microhei
command -v fc-cache > /dev/null && fc-cache -f > /dev/null
if ! installed; then
    echo "apt-get installed fonts-wqy-microhei, but fc-list :lang=zh-cn finds no font" >&2
    exit 1
fi
echo "CJK font installed: $(fc-match sans-serif:lang=zh-cn)"
