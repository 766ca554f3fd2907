"""Write environment.yml from requirements.lock so conda users get exactly the same pins.

environment.yml is the rules' environment: the runtime lock only (no test tools), for Python 3.11
on Linux (the lock's markers are evaluated there). Run with the project's venv: make lock.
"""

import re
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "3.11"
HEADER = f"""\
# Conda environment with the same exact pins as requirements.lock (tests/test_pins.py checks):
# what the workflow's rules import, for Python {PYTHON}; the test tools are in requirements-dev.lock.
# Written by tools/sync_environment.py (make lock); do not edit by hand.
# conda env create -f environment.yml && conda activate social-licence && pip install --no-deps -e .
name: social-licence
channels:
  - conda-forge
dependencies:
  - python={PYTHON}
"""


def lock_requirements(text: str) -> list[Requirement]:
    """The requirements of a hashed lock file: continuation lines joined, hashes and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.split(" --hash")[0].strip() for line in joined.splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def lock_pins(text: str, python: str = PYTHON, platform: str = "linux") -> list[str]:
    """``name==version`` for every requirement of the lock that applies to ``python`` on ``platform``."""
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": platform}
    pins = []
    for req in lock_requirements(text):
        if req.marker is None or req.marker.evaluate(env):
            (spec,) = req.specifier
            assert spec.operator == "==", f"not an exact pin: {req}"
            pins.append(f"{req.name}=={spec.version}")
    return pins


def render(pins: list[str]) -> str:
    pip = next(p for p in pins if p.startswith("pip=="))
    body = [f"  - pip={pip.split('==')[1]}", "  - pip:"]
    body += [f"      - {p}" for p in pins if not p.startswith("pip==")]
    return HEADER + "\n".join(body) + "\n"


if __name__ == "__main__":
    pins = lock_pins((ROOT / "requirements.lock").read_text())
    (ROOT / "environment.yml").write_text(render(pins))
