"""The locks are exact, hashed and consistent; the conda environment carries the runtime pins; the
test environment is what the dev lock says; and the lock installs on Python 3.12 and 3.13 too.

requirements.lock: what the workflow needs (pyproject dependencies) plus pip/setuptools/wheel.
requirements-dev.lock: the same pins plus the dev group. Both are one universal resolution for
Python 3.11-3.13, so the markers are evaluated here for each version in turn.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RUNTIME, DEV = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PYTHONS = ["3.11", "3.12", "3.13"]
# published as a source distribution only (pure Python): built for its metadata, not a wheel
SOURCE_ONLY = {"connection-pool"}


def _entries(path: Path) -> list[tuple[Requirement, list[str]]]:
    joined = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in joined.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement, *hashes = line.split(" --hash=")
        out.append((Requirement(requirement.strip()), [h.strip() for h in hashes]))
    return out


def _pins(path: Path, python: str = "3.11") -> dict[str, str]:
    env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux"}
    pins = {}
    for req, _ in _entries(path):
        if req.marker is None or req.marker.evaluate(env):
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: not an exact pin: {req}"
            pins[canonicalize_name(req.name)] = spec.version
    return pins


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                assert "==" in line, f"environment.yml pip entry is not an exact pin: {line!r}"
                name, version = line.split("==")
                pins[canonicalize_name(name)] = version
        else:
            name, _, version = dep.partition("=")
            if name == "pip":
                pins["pip"] = version
            elif name == "python":
                assert version == "3.11", f"environment.yml asks for python {version}, not 3.11"
    return pins


def test_every_lock_line_is_an_exact_pin_with_hashes():
    for path in (RUNTIME, DEV):
        entries = _entries(path)
        assert len(entries) > 50, path.name
        for req, hashes in entries:
            assert hashes and all(h.startswith("sha256:") for h in hashes), f"{path.name}: {req.name} has no hash"
        for python in PYTHONS:
            assert _pins(path, python), (path.name, python)


def test_environment_yml_has_exactly_the_runtime_pins():
    lock, env = _pins(RUNTIME), _environment()
    differ = {k: (lock.get(k), env.get(k)) for k in set(lock) | set(env) if lock.get(k) != env.get(k)}
    assert not differ, f"requirements.lock and environment.yml disagree (lock, env): {differ}"


def test_runtime_and_dev_dependencies_are_separate_and_agree():
    dev_group = {canonicalize_name(Requirement(d).name) for d in PROJECT["optional-dependencies"]["dev"]}
    for python in PYTHONS:
        runtime, dev = _pins(RUNTIME, python), _pins(DEV, python)
        for dep in PROJECT["dependencies"]:
            name = canonicalize_name(Requirement(dep).name)
            assert name in runtime, f"{name} is a dependency in pyproject.toml but not pinned in requirements.lock"
        assert dev_group <= set(dev), f"dev tools not in requirements-dev.lock: {sorted(dev_group - set(dev))}"
        assert not dev_group & set(runtime), f"dev tools in the runtime lock: {sorted(dev_group & set(runtime))}"
        differ = {k: (v, dev.get(k)) for k, v in runtime.items() if dev.get(k) != v}
        assert not differ, f"Python {python}: requirements-dev.lock changes runtime pins (runtime, dev): {differ}"


def test_installed_versions_match_the_dev_lock():
    from importlib.metadata import PackageNotFoundError, version

    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    mismatched = {}
    for name, pinned in _pins(DEV, python).items():
        try:
            have = version(name)
        except PackageNotFoundError:
            have = None
        if have != pinned:
            mismatched[name] = (pinned, have)
    assert not mismatched, f"installed versions differ from requirements-dev.lock (pinned, installed): {mismatched}"


def test_requires_python_and_makefile_accept_311_to_313():
    assert PROJECT["requires-python"] == ">=3.11"
    makefile = (ROOT / "Makefile").read_text()
    assert all(f"python{v}" in makefile for v in PYTHONS)


@pytest.mark.slow
@pytest.mark.needs_index
def test_dev_lock_resolves_from_the_package_index_for_312_and_313():
    """Needs the package index (network): uv finds every pin of the lock for each Python on Linux
    as a wheel (sources only for SOURCE_ONLY), installing nothing. The two resolutions wait on
    the network side by side."""
    uv = Path(sys.executable).parent / "uv"
    procs = {
        python: subprocess.Popen(
            [str(uv), "pip", "compile", str(DEV), "--python-version", python, "--python-platform",
             "x86_64-manylinux_2_28", "--no-deps", "--only-binary", ":all:", "--no-binary", ",".join(sorted(SOURCE_ONLY)),
             "--no-header", "--no-annotate", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for python in ("3.12", "3.13")
    }
    for python, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"requirements-dev.lock does not resolve on Python {python}:\n{stderr[-3000:]}"
        resolved = {canonicalize_name(Requirement(line).name): Requirement(line) for line in stdout.splitlines() if "==" in line}
        assert {name: str(req.specifier) for name, req in resolved.items()} == {
            name: f"=={version}" for name, version in _pins(DEV, python).items()
        }, python
