"""Write environment.yml from requirements.lock so conda users get exactly the same pins."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = """\
# Conda environment with the same exact pins as requirements.lock (tests/test_pins.py checks).
# Written by tools/sync_environment.py (make lock); do not edit by hand.
# conda env create -f environment.yml && conda activate social-licence && pip install --no-deps -e .
name: social-licence
channels:
  - conda-forge
dependencies:
  - python=3.11
"""


def lock_pins(text: str) -> list[str]:
    """The ``name==version`` lines of a lock file, comments and blanks left out."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def render(pins: list[str]) -> str:
    pip = next(p for p in pins if p.startswith("pip=="))
    body = [f"  - pip={pip.split('==')[1]}", "  - pip:"]
    body += [f"      - {p}" for p in pins if not p.startswith("pip==")]
    return HEADER + "\n".join(body) + "\n"


if __name__ == "__main__":
    pins = lock_pins((ROOT / "requirements.lock").read_text())
    (ROOT / "environment.yml").write_text(render(pins))
