"""A side environment for peer tools (ms-swift), kept out of the project's own .venv.

`.venv-peers/` is a venv whose `.pth` file adds the project's site-packages *after* its own, so torch
and the rest are reused (no second 1 GB torch download) while whatever ms-swift pins (its TRL,
transformers) is installed into the side venv and shadows ours only there. Not a project dependency.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / ".venv-peers"
PY = PEERS / "bin" / "python"


def site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def ensure(requirement: str, module: str) -> str | None:
    """Create .venv-peers and install `requirement` into it; None when `module` imports, else one line why not."""
    if not PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        ours = Path(sysconfig.get_paths()["purelib"])
        (site_packages(PY) / "zz-yichuidingyin-base.pth").write_text(f"{ours}\n")
    if _imports(module):
        return None
    proc = subprocess.run([str(PY), "-m", "pip", "install", "-q", "--disable-pip-version-check", requirement],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        return f"{requirement} did not install: {lines[-1] if lines else f'pip exited {proc.returncode}'}"
    return None if _imports(module) else f"{requirement} installed but `import {module}` fails"


def _imports(module: str) -> bool:
    return subprocess.run([str(PY), "-c", f"import {module}"], capture_output=True).returncode == 0


def swift_missing(requirement: str, *, create: bool) -> str | None:
    """Why ms-swift cannot run (None when it can); with `create`, the side venv is made first if needed."""
    if create:
        return ensure(requirement, "swift")
    if not (PEERS / "bin" / "swift").exists():
        return "no .venv-peers/ with ms-swift; run bench/peer_ms_swift.py --with-peers once"
    return None
