import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# SugarCrepe's seven caption files (MIT, licence beside them), shipped so that a plain clone runs every test.
SUGARCREPE = REPO / "tests" / "fixtures" / "sugarcrepe"


@pytest.fixture(autouse=True)
def _fresh_plugin_host(monkeypatch):
    """Each test sees plugins loaded under its own environment (NEGKIT_* variables)."""
    from negkit.plugins import reset_host

    for var in ("NEGKIT_LOAD_PLUGINS", "NEGKIT_DISABLE_PLUGINS", "NEGKIT_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    reset_host()
    yield
    reset_host()


@pytest.fixture
def sugarcrepe_dir() -> Path:
    return SUGARCREPE


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    """Run ``python -m negkit`` in a subprocess (real exit codes, stdout and stderr)."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "negkit", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=600)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs (root only; skipped where it cannot be mounted): a really full disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)
