import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("NAUTLIVE_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file from ../shared/data, or skip the test with the reason when this machine lacks it."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture
def repo_cwd(monkeypatch):
    """Run with the repository as the current directory (profiles/, artifacts/catalog/)."""
    monkeypatch.chdir(REPO)
    return REPO


pytest_plugins = ["tests.live_helpers"]  # the simulator and session-directory fixtures of the LIVE tests
