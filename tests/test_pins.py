"""The conda environment and the pip lock carry the same exact pins, and the lock is exact."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert "==" in line, f"requirements.lock line is not an exact pin: {line!r}"
        name, version = line.split("==")
        pins[name.lower().replace("_", "-")] = version
    return pins


def _environment() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                assert "==" in line, f"environment.yml pip entry is not an exact pin: {line!r}"
                name, version = line.split("==")
                pins[name.lower().replace("_", "-")] = version
        else:
            name, _, version = dep.partition("=")
            if name == "pip":
                pins["pip"] = version
            elif name == "python":
                assert version == "3.11", f"environment.yml asks for python {version}, not 3.11"
    return pins


def test_environment_yml_has_exactly_the_lock_pins():
    lock, env = _lock(), _environment()
    differ = {k: (lock.get(k), env.get(k)) for k in set(lock) | set(env) if lock.get(k) != env.get(k)}
    assert not differ, f"requirements.lock and environment.yml disagree (lock, env): {differ}"


def test_every_declared_dependency_is_pinned():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    lock = _lock()
    for dep in declared:
        name = dep.split(";")[0].split("[")[0].strip().lower().replace("_", "-")
        assert name in lock, f"{name} is declared in pyproject.toml but not pinned in requirements.lock"


def test_installed_versions_match_the_lock():
    from importlib.metadata import PackageNotFoundError, version

    mismatched = {}
    for name, pinned in _lock().items():
        try:
            have = version(name)
        except PackageNotFoundError:
            mismatched[name] = (pinned, None)
            continue
        if have != pinned:
            mismatched[name] = (pinned, have)
    assert not mismatched, f"installed versions differ from requirements.lock (pinned, installed): {mismatched}"
