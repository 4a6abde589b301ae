#!/bin/sh
# Build the project's wheel into install/wheels/ so the add-on image installs this checkout
# instead of the release archive (local add-on builds, tests). Usage: build-wheel.sh [outdir]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/wheels}
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3

# Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/custom_components/printernizer_usage" "$out"
cp "$root/pyproject.toml" "$work/src/"
cp -R "$root/aggregation" "$root/printernizer_usage_service" "$root/printernizer_usage_web" "$work/src/"
cp -R "$root/custom_components/printernizer_usage/core" "$work/src/custom_components/printernizer_usage/"
if [ -f "$root/README.md" ]; then cp "$root/README.md" "$work/src/"; else echo "Printernizer usage" >"$work/src/README.md"; fi
find "$work/src" -name __pycache__ -type d -prune -exec rm -rf {} +
rm -f "$out"/printernizer_usage-*.whl

# uv builds offline from its cache when it can; pip fetches the build backend otherwise.
uv=$(dirname "$python")/uv
if [ -x "$uv" ] && "$uv" build --quiet --offline --python "$python" --wheel \
    --out-dir "$out" "$work/src" 2>/dev/null; then
    :
else
    "$python" -m pip wheel --quiet --no-deps --wheel-dir "$out" "$work/src"
fi
ls "$out"/printernizer_usage-*.whl
