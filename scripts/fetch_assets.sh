#!/usr/bin/env bash
# Vendors the Bootswatch DARKLY stylesheet into the package (run once when upgrading
# Bootswatch; the result is committed, so installs and runs never need the network).
#
# The dashboard must work offline, so the CDN URL in dbc.themes.DARKLY is not usable.
# The CSS comes from the npm package `bootswatch` (MIT). Its one external reference, an
# @import of the Lato font from Google Fonts, is removed: the theme's font stack falls
# back to the system sans-serif font.
set -euo pipefail
VERSION="${1:-5}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$HERE/src/streamdash/dashboard/assets/bootstrap-darkly.min.css"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "bootswatch@$VERSION" >/dev/null && tar xzf bootswatch-*.tgz)
sed -E 's#@import url\(https?://[^)]*\);##g' "$WORK/package/dist/darkly/bootstrap.min.css" >"$DEST"
if grep -Eq 'https?://[^ )]*\)' <(grep -o 'url([^)]*)' "$DEST"); then
    echo "external url() left in $DEST" >&2
    exit 1
fi
echo "wrote $DEST ($(wc -c <"$DEST") bytes, bootswatch $(grep -o '"version": *"[^"]*"' "$WORK/package/package.json"))"
