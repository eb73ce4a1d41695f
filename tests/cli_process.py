"""The `touchstream` command as a user runs it: a subprocess of the installed CLI, with an environment
that holds no TOUCHSTREAM_* setting but the ones a test gives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "touchstream.adapters.cli.main"]


def settings_env(**settings: str) -> dict[str, str]:
    """This process's environment without any TOUCHSTREAM_* variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHSTREAM_")}
    env.update(settings)
    return env


def touchstream(
    env: dict[str, str], cwd: Path, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
