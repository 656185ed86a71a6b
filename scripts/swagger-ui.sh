#!/usr/bin/env bash
# Puts Swagger UI's files, which the API docs page (/docs) loads, into var/tools/swagger-ui, unless
# the pinned version is there already. make deps and make install run it; nothing is fetched when
# the page is opened, so /docs works offline and no CDN is asked.
#
# They come from the PyPI wheel swagger-ui-bundle-v2 (Swagger UI's own dist files, Apache 2.0; 5.x
# renders OpenAPI 3.1, which openapi.yaml is). The wheel is only downloaded and unpacked, never
# installed, and its sha256 is checked. To move to another version, set both lines below.
set -euo pipefail

VERSION=5.31.0
WHEEL_SHA256=ad8484399c8da2868db86080bcd89bd3209d8efb69159a2c0145766da8968112
# What the page uses of the dist folder, and its licence.
FILES=(swagger-ui-bundle.js swagger-ui.css favicon-32x32.png)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=$REPO_ROOT/var/tools/swagger-ui

if [[ $(cat "$TARGET/VERSION" 2>/dev/null) == "$VERSION" ]]; then
    exit 0
fi
echo "swagger-ui: fetching Swagger UI $VERSION (PyPI swagger-ui-bundle-v2) into $TARGET"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip download -q --no-deps --only-binary :all: \
    -d "$work" "swagger-ui-bundle-v2==$VERSION"
wheel=$work/swagger_ui_bundle_v2-$VERSION-py3-none-any.whl
if ! echo "$WHEEL_SHA256  $wheel" | sha256sum --check --quiet; then
    echo "swagger-ui: the wheel's sha256 is not the pinned one; not using it" >&2
    exit 1
fi
python3 -m zipfile -e "$wheel" "$work/unpacked"
dist=$work/unpacked/swagger_ui_bundle/vendor/swagger-ui-$VERSION
mkdir -p "$work/out"
for file in "${FILES[@]}"; do
    cp "$dist/$file" "$work/out/"
done
cp "$work/unpacked/swagger_ui_bundle_v2-$VERSION.dist-info/licenses/LICENSE" "$work/out/LICENSE"
echo "$VERSION" >"$work/out/VERSION"
chmod -R u=rwX,go=rX "$work/out"
mkdir -p "$(dirname "$TARGET")"
rm -rf "$TARGET"
mv "$work/out" "$TARGET"
