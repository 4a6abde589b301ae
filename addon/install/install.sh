#!/bin/sh
# Install the aggregation server into a Python environment: the add-on Dockerfile runs it,
# and tests/addon runs it against a scratch virtual environment.
#
# Where the project comes from, first match wins:
#   1. a wheel in install/wheels/ (put there by install/build-wheel.sh for local builds)
#   2. PACKAGE_SOURCE, anything pip accepts (a wheel, an sdist, a URL)
#   3. the source archive of the release tag: $PACKAGE_REPOSITORY/archive/refs/tags/v$BUILD_VERSION.tar.gz
# Environment: PYTHON (default python3), INSTALL_DEPENDENCIES (1: install requirements.txt
# first; 0: the environment already has them), BUILD_VERSION (checked against the package).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}

wheel=""
for candidate in "$here"/wheels/printernizer_usage-*.whl; do
    [ -f "$candidate" ] && wheel=$candidate
done

if [ -n "$wheel" ]; then
    package=$wheel
elif [ -n "${PACKAGE_SOURCE:-}" ]; then
    package=$PACKAGE_SOURCE
elif [ -n "${PACKAGE_REPOSITORY:-}" ] && [ -n "${BUILD_VERSION:-}" ]; then
    package="${PACKAGE_REPOSITORY%/}/archive/refs/tags/v${BUILD_VERSION}.tar.gz"
else
    echo "install.sh: no wheel in $here/wheels and neither PACKAGE_SOURCE nor" \
        "PACKAGE_REPOSITORY + BUILD_VERSION given" >&2
    exit 2
fi

echo "install.sh: installing the aggregation server from $package"
if [ "${INSTALL_DEPENDENCIES:-1}" = 1 ]; then
    # The runtime lock (a copy of requirements/run.txt), so the image runs what the tests ran.
    "$python" -m pip install --no-cache-dir --prefer-binary -r "$here/requirements.txt"
fi
# The dependencies are already pinned above; --no-deps keeps pip from re-resolving them.
"$python" -m pip install --no-cache-dir --no-deps "$package"

# Fail the build, not the first start, when a module or a dependency is missing. -I keeps
# the current directory (a source checkout, in the tests) out of the import path.
BUILD_VERSION=${BUILD_VERSION:-} "$python" -I - <<'PY'
"""Import every module of the installed packages and check the version (install.sh's last step)."""
import importlib
import os
import pkgutil
from importlib import metadata

for package_name in ("printernizer_usage_core", "aggregation"):
    package = importlib.import_module(package_name)
    for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
        # __main__ starts the server and asgi builds an app from the environment.
        if not module.name.endswith((".__main__", ".asgi")):
            importlib.import_module(module.name)

installed = metadata.version("printernizer-usage")
wanted = os.environ.get("BUILD_VERSION", "")
if wanted and wanted != installed:
    raise SystemExit(f"install.sh: built add-on {wanted} but installed package {installed}")
print(f"install.sh: printernizer-usage {installed} installed")
PY
