"""One loader for every config file: YAML, checked against its JSON Schema, defaults applied.

The schemas ship inside the package (``social_licence/schemas/``; ``workflow/schemas`` links to
them), so an installed wheel validates a models or targets file exactly as the workflow does.
Defaults live in the schemas only: :func:`load` and :func:`validate` fill them in where a file
leaves a key out, and :func:`defaults` gives a section's defaults to functions that take the
plain config blocks. Every problem is a :class:`~social_licence.errors.ConfigError` (or the
error type the caller names) naming the file, the place in it and what is wrong.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError

#: The schemas shipped with the package, by name (``<name>.schema.yaml``).
SCHEMA_NAMES = ("config", "instrument", "targets", "models", "thresholds")


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    if name not in SCHEMA_NAMES:
        raise ConfigError(f"no schema {name!r}; schemas: {', '.join(SCHEMA_NAMES)}")
    text = resources.files(__package__).joinpath("schemas", f"{name}.schema.yaml").read_text(
        encoding="utf-8"
    )
    return yaml.safe_load(text)


def schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a config file (a copy: callers may change it)."""
    return copy.deepcopy(_schema(name))


def schema_path(name: str) -> Path:
    """Where the schema file is, for tools that take a path (Snakemake's ``validate``)."""
    _schema(name)
    return Path(str(resources.files(__package__).joinpath("schemas", f"{name}.schema.yaml")))


def read_yaml(path: str | Path, what: str, error: type[Exception] = ConfigError) -> Any:
    """The parsed YAML of ``path``; ``what`` names the file in messages (``models file``)."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None


def _fill(instance: Any, schema_: Mapping[str, Any]) -> None:
    """Write each property's ``default`` where ``instance`` leaves it out, following nested
    ``properties`` (never into ``oneOf``/``anyOf`` alternatives, whose defaults are examples)."""
    if not isinstance(instance, dict):
        return
    for key, sub in (schema_.get("properties") or {}).items():
        if not isinstance(sub, Mapping):
            continue
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill(instance[key], sub)


def validate(
    content: Any,
    name: str,
    source: str,
    *,
    fill_defaults: bool = True,
    error: type[Exception] = ConfigError,
) -> Any:
    """``content`` checked against schema ``name``; with ``fill_defaults`` a copy with defaults.

    Raises ``error`` naming ``source``, the path inside the file and the first problem.
    """
    content = copy.deepcopy(content)
    validator = jsonschema.Draft202012Validator(_schema(name))
    errors = sorted(validator.iter_errors(content), key=lambda e: list(map(str, e.path)))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.absolute_path)) or "(top)"
        raise error(f"{where} in {source}: {first.message}")
    if fill_defaults:
        _fill(content, _schema(name))
    return content


def load(
    path: str | Path,
    name: str,
    what: str | None = None,
    *,
    fill_defaults: bool = True,
    error: type[Exception] = ConfigError,
) -> Any:
    """Read a config file and check it against its schema, defaults applied."""
    raw = read_yaml(path, what or f"{name} file", error)
    return validate(raw, name, str(path), fill_defaults=fill_defaults, error=error)


def defaults(section: str) -> dict[str, Any]:
    """The defaults of one section of ``config.yaml`` (``weighting``, ``estimation``, ...)."""
    props = _schema("config")["properties"][section]["properties"]
    return {key: copy.deepcopy(sub["default"]) for key, sub in props.items() if "default" in sub}


def with_defaults(section: str, block: Mapping[str, Any] | None) -> dict[str, Any]:
    """A config section as given, with the schema's defaults for what it leaves out."""
    return {**defaults(section), **dict(block or {})}
