"""`mdm init DIR`, and the project `mdm demo` and `mdm bench` run, work from an installed wheel,
not only from the source checkout: the wheel is built from the package's files, installed
(without dependencies) into a fresh virtual environment that borrows the test environment's
dependencies, and run outside the tree."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from mdm.config.loader import PROJECT_FOLDERS, load_project
from mdm.runtime.settings import REPO_ROOT


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _build_wheel(tmp: Path) -> Path:
    """A wheel built from a copy of what the build reads (the shared tree stays untouched:
    no build/ or egg-info written into it). The package's mdm/project links to the top-level
    project folders, so those are copied beside it."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "mdm", source / "mdm", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for folder in PROJECT_FOLDERS:
        shutil.copytree(REPO_ROOT / folder, source / folder)
    # Build isolation: setuptools comes from the configured indexes (the venv's own setuptools
    # is older than the >=77 that pyproject's PEP 639 license string needs).
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", source], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("mdm-*.whl")
    return wheel


def _fresh_venv(tmp: Path, wheel: Path) -> Path:
    """A new venv holding only the wheel's mdm; its dependencies come from this environment's
    site-packages through a .pth line (which adds the folder without running its .pth files,
    so the checkout's editable install stays out)."""
    venv = tmp / "venv"
    _run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", venv], cwd=tmp)
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps",
          "-q", wheel], cwd=tmp)
    purelib = Path(_run([venv / "bin" / "python", "-c",
                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).strip())
    (purelib / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("MDM_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("init_wheel")
    wheel = _build_wheel(tmp)
    return wheel, _fresh_venv(tmp, wheel)


def test_the_wheel_ships_the_starter_project(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"mdm/project/{p.relative_to(REPO_ROOT)}" for folder in PROJECT_FOLDERS
                for p in (REPO_ROOT / folder).rglob("*") if p.is_file()}
    assert expected and expected <= names
    scaffolds = {f"mdm/scaffolds/{p.name}"
                 for p in (REPO_ROOT / "mdm/scaffolds").glob("*.yaml")}
    assert scaffolds and scaffolds <= names  # `mdm init`'s source scaffolds


def test_mdm_init_from_the_installed_wheel_makes_a_project_mdm_check_accepts(
        installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = installed
    env = _clean_env()
    where = _run([venv / "bin" / "python", "-c", "import mdm; print(mdm.__file__)"], cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(venv), f"mdm imported from {where}, not the wheel"
    target = tmp_path / "acme"
    _run([venv / "bin" / "mdm", "init", target, "--source", "sqlserver:u8", "--source",
          "webhook-dingtalk:ding_oa"], cwd=tmp_path, env=env)
    assert (target / "cdc/u8.yaml").is_file() and (target / "cdc/ding_oa.yaml").is_file()
    assert (target / "cdc/poll.yaml.example").is_file()
    added = {"cdc/u8.yaml", "cdc/ding_oa.yaml"}
    for folder in PROJECT_FOLDERS:
        copied = sorted(p.relative_to(target) for p in (target / folder).rglob("*") if p.is_file()
                        and not p.name.endswith(".yaml.example") and str(p.relative_to(target))
                        not in added)
        original = sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / folder).rglob("*") if p.is_file())
        assert copied and copied == original, folder
        assert all((target / p).read_bytes() == (REPO_ROOT / p).read_bytes() for p in copied)
    out = _run([venv / "bin" / "mdm", "check", "-p", target], cwd=tmp_path, env=env)
    assert "ok" in out and str(target) in out.replace("\n", "")


DEMO_PROJECT_PROBE = """
import json, tempfile
from pathlib import Path
from mdm.bench.faults import FaultLab
from mdm.config.loader import load_project
from mdm.demo.stack import DemoStack
demo = DemoStack(Path(tempfile.mkdtemp())).project_dir
lab = FaultLab(Path(tempfile.mkdtemp()), {})
print(json.dumps({"demo": str(demo), "entities": sorted(load_project(demo).entities),
                  "fault_targets": sorted(load_project(lab.stack.project_dir).targets)}))
"""


def test_mdm_demo_and_bench_take_their_project_from_the_installed_package(
        installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = installed
    found = json.loads(_run([venv / "bin" / "python", "-c", DEMO_PROJECT_PROBE], cwd=tmp_path,
                            env=_clean_env()))
    assert Path(found["demo"]).is_relative_to(venv) and Path(found["demo"]).name == "project"
    assert found["entities"] == sorted(load_project(REPO_ROOT).entities)
    assert {"events", "stream"} <= set(found["fault_targets"])  # no examples/ in a wheel
