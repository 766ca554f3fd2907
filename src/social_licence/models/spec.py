"""Models declared in ``models.yaml``: their spec, and formulas checked against known variables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import patsy

from ..config import read_yaml, validate
from ..errors import ConfigError, ModelError
from ..survey.grid import DK_OPTIONS
from .formula import EVAL_NAMESPACE, parse_formula, parse_subset

FAMILIES = ("binomial", "gaussian", "poisson")
MODEL_FAMILIES = (*FAMILIES, "ordinal")
DATA_KINDS = ("long", "respondent")
# Above this standard error (log-odds or log-rate scale) an estimate carries no information:
# the usual cause is (quasi-)separation or a near-empty cell, which we report instead.
MAX_SE = 10.0

EVAL_ENV = patsy.EvalEnvironment([EVAL_NAMESPACE])


# -- formulas -------------------------------------------------------------------------------
def formula_variables(formula: str) -> tuple[list[str], list[str]]:
    """Variables of the left- and right-hand side of a formula, in order of appearance
    (the formula checked against the grammar of :mod:`social_licence.models.formula`)."""
    parsed = parse_formula(formula)
    return list(parsed.lhs), list(parsed.rhs)


def check_formula(formula: str, columns: Sequence[str], model: str) -> tuple[list[str], list[str]]:
    """The formula checked against the grammar and the data's columns before patsy sees it."""
    parsed = parse_formula(formula, columns, model=model)
    if not parsed.lhs:
        raise ModelError(f"model {model!r}: formula {formula!r} has no outcome (left of '~')")
    return list(parsed.lhs), list(parsed.rhs)


# -- models declared in config --------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """One model of ``config/models.yaml``."""

    name: str
    formula: str
    family: str
    data: str = "long"
    outcome: str | None = None
    description: str = ""
    subset: str | None = None
    reference: Mapping[str, str] = field(default_factory=dict)
    dk: str = "exclude"
    grid: str = "acceptability"
    marginal_effects: tuple[str, ...] = ()
    within: str | None = None
    outcome_levels: tuple[str, ...] = ()
    waves: str = "current"  # stacked: fitted on every wave stacked, with a `wave` term

    @property
    def full_formula(self) -> str:
        """The formula with its outcome: a right-hand-side-only formula gets ``outcome ~``."""
        if "~" in self.formula and self.formula.split("~", 1)[0].strip():
            return self.formula
        return f"{self.outcome} ~ {self.formula.split('~', 1)[-1].strip()}"


def parse_models(raw: Any, source: str = "models config") -> list[ModelSpec]:
    """Check a parsed models mapping (``{models: [...]}``) against its schema; build the specs."""
    raw = validate(raw, "models", source, fill_defaults=False)
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise ConfigError(f"{source}: must hold a list under 'models'")
    specs, seen = [], set()
    for i, item in enumerate(raw["models"]):
        where = f"{source}: models[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a mapping")
        name = item.get("name")
        if not name or not isinstance(name, str):
            raise ConfigError(f"{where}: needs a name")
        if name in seen:
            raise ConfigError(f"{where}: model name {name!r} is used twice")
        seen.add(name)
        family = item.get("family", "binomial")
        if family not in MODEL_FAMILIES:
            raise ConfigError(
                f"{where} ({name}): family {family!r} is not one of {', '.join(MODEL_FAMILIES)}"
            )
        kind = item.get("data", "long")
        if kind not in DATA_KINDS:
            raise ConfigError(
                f"{where} ({name}): data {kind!r} is not one of {', '.join(DATA_KINDS)}"
            )
        dk = item.get("dk", "exclude")
        if dk not in DK_OPTIONS:
            raise ConfigError(f"{where} ({name}): dk {dk!r} is not one of {', '.join(DK_OPTIONS)}")
        formula = item.get("formula")
        if not formula or "~" not in formula:
            raise ConfigError(f"{where} ({name}): formula {formula!r} needs a '~'")
        parse_formula(formula, model=name)
        if item.get("subset") is not None:
            parse_subset(item["subset"], model=name)
        lhs = formula.split("~", 1)[0].strip()
        outcome = item.get("outcome") or lhs or None
        if not outcome:
            raise ConfigError(f"{where} ({name}): give an outcome or put it left of '~'")
        if lhs and item.get("outcome") and lhs != item["outcome"]:
            raise ConfigError(
                f"{where} ({name}): outcome {item['outcome']!r} differs from the "
                f"formula's left-hand side {lhs!r}"
            )
        reference = item.get("reference") or {}
        if not isinstance(reference, dict):
            raise ConfigError(f"{where} ({name}): reference must map variable to level")
        specs.append(
            ModelSpec(
                name=name,
                formula=formula,
                family=family,
                data=kind,
                outcome=outcome,
                description=str(item.get("description", "")),
                subset=item.get("subset"),
                reference={str(k): str(v) for k, v in reference.items()},
                dk=dk,
                grid=item.get("grid", "acceptability"),
                marginal_effects=tuple(item.get("marginal_effects") or ()),
                within=item.get("within"),
                outcome_levels=tuple(item.get("outcome_levels") or ()),
                waves=str(item.get("waves") or "current"),
            )
        )
    return specs


def load_models(path: str | Path) -> list[ModelSpec]:
    """Read and check ``config/models.yaml`` (against the package's ``models.schema.yaml``)."""
    return parse_models(read_yaml(path, "models file"), str(path))


def get_model(specs: Sequence[ModelSpec], name: str) -> ModelSpec:
    """The spec called ``name`` (the Snakemake ``{model}`` wildcard)."""
    for s in specs:
        if s.name == name:
            return s
    raise ConfigError(f"no model called {name!r}; models are {', '.join(s.name for s in specs)}")


DESIGN_OPTION_KEYS = (
    "weights",
    "strata",
    "psu",
    "fpc",
    "lonely_psu",
    "variance",
    "replicates",
    "seed",
    "reweighter",
    "base_weights",
    "mse",
    "calibration",
)


