"""nautlive as an installed tool (issue 14): the wheel carries its data, and works from an empty folder.

The wheel is built from a copy of the sources and installed (not editable) into a fresh virtualenv. To spare a
download of nautilus_trader on every run, the fresh venv sees the dev venv's third-party packages through a .pth line
that adds the dev site-packages as a plain path: .pth files inside it (nautlive's editable finder) are not processed,
so `import nautlive` can only find the installed wheel. Every command runs in an empty temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _copy_sources(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "nautlive", dest / "nautlive", symlinks=True, ignore=ignore)
    shutil.copytree(REPO / "profiles", dest / "profiles")
    for sub in ("catalog", "orders"):
        shutil.copytree(REPO / "artifacts" / sub, dest / "artifacts" / sub)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):  # noqa: ANN201
    """(the wheel, the fresh venv's bin folder, an environment without the repository, an empty folder)."""
    root = tmp_path_factory.mktemp("install")
    src = root / "src"
    src.mkdir()
    _copy_sources(src)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(root / "dist"),
                            str(src)], capture_output=True, text=True, timeout=240)
    assert build.returncode == 0, build.stderr
    wheel = next((root / "dist").glob("nautlive-*.whl"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_dev_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NAUTLIVE_HOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    empty = root / "empty"
    empty.mkdir()
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
                             capture_output=True, text=True, env=env, cwd=empty, timeout=120)
    assert install.returncode == 0, install.stderr
    return wheel, venv / "bin", env, empty, site


def run(installed, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    _, bin_dir, env, empty, _ = installed
    return subprocess.run([str(bin_dir / "nautlive"), *args], capture_output=True, text=True, env=env,
                          cwd=cwd or empty, timeout=timeout)


def test_the_wheel_carries_the_shipped_profiles_catalogs_and_example_targets(installed):
    names = set(zipfile.ZipFile(installed[0]).namelist())
    for path in sorted((REPO / "profiles").glob("*.yaml")):
        assert f"nautlive/data/profiles/{path.name}" in names
    for path in sorted((REPO / "artifacts" / "catalog").glob("*.yaml")):
        assert f"nautlive/data/catalog/{path.name}" in names
    assert "nautlive/data/orders/target_weights.json" in names


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    _, bin_dir, env, empty, site = installed
    code = f"import nautlive, sys; print(nautlive.__file__); print(any(p.rstrip('/') == {str(REPO)!r} for p in sys.path))"
    where = subprocess.run([str(bin_dir / "python"), "-c", code], capture_output=True, text=True, env=env, cwd=empty,
                           check=True).stdout.split()
    assert Path(where[0]).is_relative_to(site), where
    assert where[1] == "False"


def test_outside_a_working_folder_a_command_says_run_init(installed):
    result = run(installed, "shadow", "--venue", "binance", "--once")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no profiles here: run `nautlive init`"), result.stderr
    assert "site-packages" not in result.stderr
    listed = run(installed, "profiles", "list")
    assert listed.returncode == 2 and "no profiles here: run `nautlive init`" in listed.stderr


def test_init_then_profiles_shadow_and_demo_from_an_empty_folder(installed, tmp_path):
    init = run(installed, "init", "ws", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert "wrote ws/profiles/binance.yaml" in init.stdout and "wrote ws/.env.example" in init.stdout
    ws = tmp_path / "ws"
    listed = run(installed, "profiles", "list", cwd=ws)
    assert listed.returncode == 0, listed.stderr
    assert "binance\tBINANCE\tbinance\tBTCUSDT.BINANCE, ETHUSDT.BINANCE\tprofiles/binance.yaml" in listed.stdout
    shadow = run(installed, "shadow", "--venue", "binance", "--feed", "synthetic", "--once", cwd=ws)
    assert shadow.returncode == 0, shadow.stderr
    assert shadow.stderr.startswith("profile binance (profiles/binance.yaml)\n")
    assert (ws / "artifacts" / "logs" / "live" / "drift.log").stat().st_size > 0  # the profile's path, in the home
    demo = run(installed, "demo", cwd=ws)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "$ nautlive drift-report --log artifacts/demo/drift.log" in demo.stdout
    # from anywhere, with --home: the profile's paths resolve against the home, not the current folder
    elsewhere = run(installed, "--home", str(ws), "shadow", "--venue", "binance", "--feed", "synthetic", "--once",
                    "--json", cwd=tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert not (tmp_path / "artifacts").exists()
