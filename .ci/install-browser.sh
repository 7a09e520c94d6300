#!/usr/bin/env bash
# Browser tier (tests/browser): Debian's Chromium, driven by Playwright through
# executable_path (Playwright's own browser download is not used). Idempotent:
# does nothing when chromium is already installed; runs apt-get update at most once.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

# Fresh lists: a stale list can name a version the mirror no longer has.
${sudo} apt-get update -qq
${sudo} apt-get install -y -qq chromium >/dev/null
echo "installed: $(chromium --version 2>/dev/null || echo chromium)"
