"""The package a user installs: `python -m build` makes the sdist and the wheel from a clean
copy of the tracked files (an isolated build environment, as a user's pip does), and
`twine check` accepts both; the wheel ships the license and the typing marker."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git lists the tracked files")
def test_build_and_twine_check(tmp_path: Path, repo_root: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo_root, capture_output=True,
                             check=True).stdout.decode().split("\0")
    source = tmp_path / "src"
    for name in filter(None, tracked):
        if (repo_root / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / name, source / name)
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "-o", str(dist), str(source)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    files = sorted(p.name for p in dist.iterdir())
    assert sorted(f.rsplit(".", 1)[-1] for f in files) == ["gz", "whl"], files
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                              *map(str, dist.iterdir())], capture_output=True, text=True,
                             timeout=120, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "promptkit/py.typed" in names and any(n.endswith("licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in metadata and "Requires-Dist: packaging" in metadata
