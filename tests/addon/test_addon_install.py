"""The Dockerfile's install step (addon/install/install.sh) run against a scratch venv.

Offline and fast: the project wheel is built from this checkout, installed with
--no-deps, and the scratch venv sees the already-installed dependencies of the
development venv through a .pth file (pip's own work is the part under test).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.addon.addon_paths import ADDON, ROOT, VENV_BIN

INSTALL_DIR = ADDON / "install"
VERSION = "0.1.0"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A copy of addon/install with a freshly built wheel, and an empty virtual environment."""
    base = tmp_path_factory.mktemp("addon-install")
    install = base / "install"
    install.mkdir()
    for name in ("install.sh", "requirements.txt"):
        shutil.copy2(INSTALL_DIR / name, install / name)
    subprocess.run(
        ["sh", str(INSTALL_DIR / "build-wheel.sh"), str(install / "wheels")],
        env={**os.environ, "PYTHON": str(VENV_BIN / "python")},
        check=True,
        capture_output=True,
        timeout=300,
    )
    venv = base / "venv"
    subprocess.run(
        [str(VENV_BIN / "python"), "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    # Dependencies (and pip itself) come from the development venv, after the scratch
    # venv's own packages; pip installs into the interpreter that runs it: the scratch venv.
    dev_site = sysconfig.get_paths()["purelib"]
    scratch_site = next((venv / "lib").glob("python3*/site-packages"))
    (scratch_site / "_dev_dependencies.pth").write_text(dev_site + "\n", encoding="utf-8")
    return {"install": install, "venv": venv}


def run_install(scratch: dict[str, Path], **extra: str) -> subprocess.CompletedProcess[str]:
    """Run install.sh the way the Dockerfile does, but into the scratch venv and offline."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch["venv"]),
        "PYTHON": str(scratch["venv"] / "bin" / "python"),
        "INSTALL_DEPENDENCIES": "0",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "BUILD_VERSION": VERSION,
        **extra,
    }
    return subprocess.run(
        ["sh", str(scratch["install"] / "install.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_dockerfile_runs_install_sh() -> None:
    dockerfile = (ADDON / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG BUILD_FROM$", dockerfile, re.M)
    assert re.search(r"^FROM \$\{BUILD_FROM\}$", dockerfile, re.M)
    assert "COPY install/ /tmp/install/" in dockerfile
    assert "sh /tmp/install/install.sh" in dockerfile
    assert "COPY rootfs /" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n?.*aggregation-healthcheck", dockerfile, re.M)


def test_install_sh_installs_a_working_server(scratch: dict[str, Path]) -> None:
    result = run_install(scratch)
    hint = (
        "\nA 'No module named aggregation.<sub>' means the wheel lacks that subpackage: "
        "pyproject.toml [tool.setuptools] packages must list every subpackage."
    )
    assert result.returncode == 0, result.stdout + result.stderr + hint
    assert f"printernizer-usage {VERSION} installed" in result.stdout
    python = scratch["venv"] / "bin" / "python"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import aggregation, aggregation.app, printernizer_usage_core, pathlib;"
            "print(pathlib.Path(aggregation.__file__).parent);"
            "print(pathlib.Path(printernizer_usage_core.__file__).parent);"
            "aggregation.app.create_app",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=scratch["venv"],
    )
    package_dir, core_dir = (Path(line) for line in probe.stdout.split())
    # Imported from the wheel in the scratch venv, not from the checkout.
    assert scratch["venv"] in package_dir.parents
    assert scratch["venv"] in core_dir.parents
    # Package data made it into the wheel: the dashboard needs its templates and assets.
    assert list((package_dir / "dashboard" / "templates").glob("*.html"))
    assert (package_dir / "dashboard" / "static").is_dir()
    assert (scratch["venv"] / "bin" / "printernizer-aggregation").exists()


def test_install_sh_rejects_a_version_mismatch(scratch: dict[str, Path]) -> None:
    result = run_install(scratch, BUILD_VERSION="9.9.9")
    assert result.returncode != 0
    assert "9.9.9" in result.stderr


def test_install_sh_needs_a_source(tmp_path: Path) -> None:
    install = tmp_path / "install"
    install.mkdir()
    shutil.copy2(INSTALL_DIR / "install.sh", install / "install.sh")
    result = subprocess.run(
        ["sh", str(install / "install.sh")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "PACKAGE_REPOSITORY" in result.stderr


def test_release_builds_use_the_tagged_archive(tmp_path: Path) -> None:
    # Without a wheel the URL is derived from build.yaml's repository and the version.
    install = tmp_path / "install"
    install.mkdir()
    shutil.copy2(INSTALL_DIR / "install.sh", install / "install.sh")
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    fake_python.chmod(0o755)
    result = subprocess.run(
        ["sh", str(install / "install.sh")],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHON": str(fake_python),
            "PACKAGE_REPOSITORY": "https://github.com/owner/repo/",
            "BUILD_VERSION": VERSION,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert f"https://github.com/owner/repo/archive/refs/tags/v{VERSION}.tar.gz" in result.stdout
    assert result.returncode != 0  # the stand-in python refuses; nothing is downloaded


def test_local_wheels_stay_out_of_git() -> None:
    ignore = (INSTALL_DIR / ".gitignore").read_text(encoding="utf-8")
    assert "wheels/" in ignore
    assert ROOT in INSTALL_DIR.parents
