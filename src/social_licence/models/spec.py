"""Models declared in ``models.yaml``: their spec, and formulas checked against known variables."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import patsy

from ..config import read_yaml, validate
from ..errors import ConfigError, ModelError
from ..survey.grid import DK_OPTIONS

FAMILIES = ("binomial", "gaussian", "poisson")
MODEL_FAMILIES = (*FAMILIES, "ordinal")
DATA_KINDS = ("long", "respondent")
# Above this standard error (log-odds or log-rate scale) an estimate carries no information:
# the usual cause is (quasi-)separation or a near-empty cell, which we report instead.
MAX_SE = 10.0

PATSY_NAMES = frozenset(n for n in dir(patsy.builtins) if not n.startswith("_")) | {"np"}
EVAL_ENV = patsy.EvalEnvironment([{"np": np}])



# -- formulas -------------------------------------------------------------------------------
def _factor_variables(code: str) -> list[str]:
    """Data columns named in one patsy factor, e.g. ``C(eth, Treatment('White'))`` -> ``eth``."""
    try:
        tree = ast.parse(code.strip(), mode="eval")
    except SyntaxError:
        return []
    called, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            while isinstance(func, ast.Attribute):
                func = func.value
            if isinstance(func, ast.Name):
                called.add(func.id)
            if isinstance(node.func, ast.Name) and node.func.id == "Q" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append(arg.value)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            called.add(node.value.id)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in called and node.id not in PATSY_NAMES:
            found.append(node.id)
    return list(dict.fromkeys(found))


def formula_variables(formula: str) -> tuple[list[str], list[str]]:
    """Variables of the left- and right-hand side of a formula, in order of appearance."""
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as exc:
        raise ModelError(f"formula {formula!r} cannot be parsed: {exc}") from None
    sides = []
    for terms in (desc.lhs_termlist, desc.rhs_termlist):
        names: list[str] = []
        for term in terms:
            for factor in term.factors:
                names.extend(_factor_variables(factor.code))
        sides.append(list(dict.fromkeys(names)))
    return sides[0], sides[1]


def check_formula(formula: str, columns: Sequence[str], model: str) -> tuple[list[str], list[str]]:
    lhs, rhs = formula_variables(formula)
    if not lhs:
        raise ModelError(f"model {model!r}: formula {formula!r} has no outcome (left of '~')")
    cols = set(columns)
    desc = patsy.ModelDesc.from_formula(formula)
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            for var in _factor_variables(factor.code):
                if var not in cols:
                    raise ModelError(
                        f"model {model!r}: term {factor.code!r} of formula {formula!r} uses "
                        f"{var!r}, which is not a column of the data"
                    )
    return lhs, rhs



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


