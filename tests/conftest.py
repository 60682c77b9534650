"""Shared test fixtures: where ../shared/fixtures is, and helpers to copy fixtures before writing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"missing shared fixture {path} (CI keeps ../shared beside the checkout)")
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return _require(SHARED_FIXTURES)


@pytest.fixture(scope="session")
def dfl_fixtures(fixtures_dir: Path) -> Path:
    """Files written by DeepFaceLab's own code (aligned faces, pak, json)."""
    return _require(fixtures_dir / "dfl")


@pytest.fixture(scope="session")
def model_fixtures(fixtures_dir: Path) -> Path:
    """DFL weight files and DFL TensorFlow reference outputs."""
    return _require(fixtures_dir / "models")


@pytest.fixture(scope="session")
def real_media(fixtures_dir: Path) -> Path:
    """Real face videos and photos (internal use only: never copy into the repo)."""
    return _require(fixtures_dir / "real")


@pytest.fixture
def copy_fixture(tmp_path: Path):
    """Copy a (read-only) fixture file or folder into tmp_path and make it writable."""

    def _copy(src: Path, name: str | None = None) -> Path:
        dst = tmp_path / (name or src.name)
        if src.is_dir():
            shutil.copytree(src, dst)
            for p in [dst, *dst.rglob("*")]:
                p.chmod(0o755 if p.is_dir() else 0o644)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            dst.chmod(0o644)
        return dst

    return _copy


@pytest.fixture(autouse=True)
def _normal_verbosity():
    """Every test starts at normal verbosity: a CLI test run with `-q` sets the console's global level, and a
    later library test that reads its messages would otherwise see nothing."""
    from neuface.console import set_verbosity, verbosity

    before = verbosity()
    set_verbosity(0)
    yield
    set_verbosity(before)
