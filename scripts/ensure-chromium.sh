#!/bin/sh
# The browser tests drive the system's Chromium (Playwright never downloads a browser here).
# On Debian/Ubuntu as root, install it when missing; elsewhere say what to install.
for b in chromium chromium-browser google-chrome; do
  command -v "$b" >/dev/null 2>&1 && exit 0
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing chromium for the browser tests (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  command -v chromium >/dev/null 2>&1 && exit 0
fi
echo "The browser tests need Chromium: install it (Debian/Ubuntu: apt-get install chromium;" \
     "macOS: brew install --cask chromium) and run make test again." >&2
exit 1
