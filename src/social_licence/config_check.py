"""Check early: every config value that names a variable, level, grid, group or headline cell is
checked against the instrument when the workflow's DAG is built, before any job runs.

The workflow (``workflow/rules/common.smk``) calls :func:`load_workflow_config` right after the
JSON Schemas; a misspelt group, level or model term then stops the run with one
:class:`ConfigError` listing every problem by its config key and value, instead of a bare
``KeyError`` after dozens of outputs. What the check read and built (the instrument, the model
specifications, the analysis plan) is handed back, so the DAG is built from it without reading
or building any of them again. Model formulas and subsets are read as data
(:mod:`social_licence.models.formula`): nothing in a config file is ever run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .config import read_yaml
from .errors import ConfigError, SocialLicenceError
from .ingest.cleaning import resolve_rules
from .models.formula import parse_formula, parse_subset
from .models.indices import INDEX_COLUMNS
from .models.spec import ModelSpec, load_models
from .survey.grid import RESPONDENT
from .survey.instrument import Instrument, load_instrument
from .survey.missing import DONT_KNOW_LABEL
from .survey.plan import WAVE, Plan, build_plan, wave_names
from .weighting.margins import WEIGHT_NAME
from .weighting.targets import load_targets

__all__ = ["CheckedConfig", "check_workflow_config", "load_workflow_config", "model_variables", "variable_levels"]

# columns a long model's frame gets from the grid it stacks (social_licence.grid.long_format)
_LONG_COLUMNS = ("item", "rating", "response", "acceptable")


def model_variables(spec: ModelSpec, instrument: Instrument) -> set[str]:
    """Names a model's formula and subset may use: the instrument's variables (identifiers
    never), the final weight, and what the model's frame adds (the grid's row and column keys,
    rating, response, acceptable for a long model; the licence and trust indices otherwise;
    ``wave`` for a model fitted on the stacked waves)."""
    hidden = {instrument.id, *instrument.identifiers}
    names = {v for v in instrument.variables if v not in hidden} | {WEIGHT_NAME}
    if spec.waves == "stacked":
        names.add(WAVE)
    if spec.data == "long":
        grid = instrument.grids.get(spec.grid)
        if grid is not None:
            names -= set(grid.variables)
            names |= {RESPONDENT, *_LONG_COLUMNS, grid.row_name}
            if grid.column_name:
                names.add(grid.column_name)
    else:
        names |= set(INDEX_COLUMNS)
    return names


def variable_levels(
    name: str, instrument: Instrument, grid_name: str | None, waves: Sequence[str] = ()
) -> list[str] | None:
    """The levels a value of ``name`` can take, or None for a variable without levels
    (``wave``: the analysis's ``waves``, when it has several and no variable is so named)."""
    if name == WAVE and waves and name not in instrument.variables:
        return list(waves)
    grid = instrument.grids.get(grid_name) if grid_name else None
    if grid is not None:
        if name == grid.row_name:
            return list(grid.rows)
        if name == grid.column_name:
            return list(grid.columns)
        if name in ("rating", "response"):
            labels = [str(v) for _, v in sorted(instrument.scales[grid.scale]["codes"].items())]
            return labels + ([DONT_KNOW_LABEL] if name == "response" else [])
    if name in instrument.variables and instrument.variables[name].is_labelled:
        return instrument.variables[name].labels
    return None


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{key}: {message}")

    def guard(self, key: str, error: SocialLicenceError) -> None:
        self.add(key, str(error))


def _names(values: Iterable[str]) -> str:
    return ", ".join(map(str, values))


def _check_variables(
    problems: _Problems, key: str, values: Sequence[Any], instrument: Instrument, *, levels=False
) -> None:
    for v in values:
        if v not in instrument.variables:
            problems.add(key, f"{v!r} is not a variable of the instrument")
        elif levels and not instrument.variables[v].is_labelled:
            problems.add(key, f"{v!r} has no categories to group by (it is not labelled)")


def _check_model(
    problems: _Problems, spec: ModelSpec, instrument: Instrument, source: str, waves: Sequence[str] = ()
):
    key = f"{source}: model {spec.name}"
    if spec.waves == "stacked" and len(waves) < 2:
        problems.add(
            f"{key}: waves",
            "stacked fits the model on every wave, but the analysis has one wave (list the earlier "
            "ones under `waves`, or set waves: current)",
        )
        return
    if spec.waves != "stacked" and WAVE not in instrument.variables:
        try:
            named = parse_formula(spec.full_formula, model=spec.name).rhs
        except ConfigError:
            named = ()
        if WAVE in named:
            problems.add(
                f"{key}: formula",
                f"names {WAVE!r}, a term only a model fitted on the stacked waves has (set waves: stacked)",
            )
            return
    if spec.data == "long" and spec.grid not in instrument.grids:
        problems.add(
            f"{key}: grid",
            f"{spec.grid!r} is not a grid of the instrument (grids: {_names(instrument.grids)})",
        )
        return
    declared = model_variables(spec, instrument)
    grid = spec.grid if spec.data == "long" else None
    try:
        formula = parse_formula(spec.full_formula, declared, model=spec.name)
    except ConfigError as exc:
        problems.guard(f"{key}: formula", exc)
        return
    if spec.subset is not None:
        try:
            subset = parse_subset(spec.subset, declared, model=spec.name)
        except ConfigError as exc:
            problems.guard(f"{key}: subset", exc)
        else:
            for var, value in subset.literals:
                levels = variable_levels(var, instrument, grid, waves)
                if levels is not None and value is not None and str(value) not in levels:
                    problems.add(
                        f"{key}: subset",
                        f"{value!r} is not a level of {var!r} (levels: {_names(levels)})",
                    )
    for var, level in spec.reference.items():
        if var not in formula.rhs:
            problems.add(
                f"{key}: reference",
                f"{var!r} is not a variable of the formula {spec.full_formula!r}",
            )
            continue
        levels = variable_levels(var, instrument, grid, waves)
        if levels is None:
            problems.add(f"{key}: reference", f"{var!r} has no levels to take {level!r} from")
        elif level not in levels:
            problems.add(
                f"{key}: reference.{var}",
                f"{level!r} is not a level of {var!r} (levels: {_names(levels)})",
            )
    for var, level in formula.treatments:
        levels = variable_levels(var, instrument, grid, waves)
        if levels is not None and str(level) not in levels:
            problems.add(
                f"{key}: formula",
                f"Treatment({level!r}) is not a level of {var!r} (levels: {_names(levels)})",
            )
    for var in spec.marginal_effects:
        if var not in formula.rhs:
            problems.add(
                f"{key}: marginal_effects",
                f"{var!r} is not a variable of the formula {spec.full_formula!r}",
            )
    if spec.within is not None and spec.within not in formula.rhs:
        problems.add(f"{key}: within", f"{spec.within!r} is not a variable of the formula")
    if spec.outcome_levels:
        levels = variable_levels(formula.outcome or "", instrument, grid, waves)
        if levels is None:
            problems.add(
                f"{key}: outcome_levels",
                f"the outcome {formula.outcome!r} has no levels",
            )
        else:
            for level in spec.outcome_levels:
                if level not in levels:
                    problems.add(
                        f"{key}: outcome_levels",
                        f"{level!r} is not a level of {formula.outcome!r} "
                        f"(levels: {_names(levels)})",
                    )


def _check_plan(problems: _Problems, config: Mapping[str, Any], plan: Plan, instrument: Instrument) -> None:
    """The analysis plan (questions, their dimensions and groups) and the brief's headline."""
    declared = (config.get("analysis") or {}).get("questions") or []
    for q, spec in zip(plan.questions, declared, strict=False):  # groups of their own (others are estimation.groups)
        if isinstance(spec.get("groups"), list):
            _check_variables(problems, f"analysis.questions ({q.name}).groups", list(q.groups), instrument, levels=True)
    headline = (config.get("report") or {}).get("headline")
    if not headline:
        return
    try:
        q = plan.headline_question
    except SocialLicenceError as exc:
        problems.guard("report.headline.question", exc)
        return
    if q is None:
        problems.add("report.headline", "the analysis plan has no question")
        return
    for dim, value in dict(headline.get("cell") or {}).items():
        if dim not in q.dims:
            problems.add("report.headline.cell", f"{dim!r} is not a dimension of question {q.name} ({_names(q.dims)})")
            continue
        try:
            plan.level_label(q, dim, value)
        except SocialLicenceError as exc:
            problems.guard(f"report.headline.cell.{dim}", exc)
    var = headline.get("group_variable")
    if var is None:
        return
    if var not in q.groups:
        problems.add(
            "report.headline.group_variable",
            f"{var!r} is not one of the groups of question {q.name} ({_names(q.groups)})",
        )
        return
    group = headline.get("group")
    if group is not None and var in instrument.variables:
        labels = instrument.variables[var].labels
        if group not in labels:
            problems.add(
                "report.headline.group",
                f"{group!r} is not a group of {var!r} (groups: {_names(labels)})",
            )


def _grammar_problems(problems: _Problems, path: Path) -> bool:
    """Every model's formula and subset read against the grammar, so that all hostile or
    malformed ones are listed at once; True when any was found."""
    try:
        raw = read_yaml(path, "models file")
    except ConfigError:
        return False  # load_models names the file and the fault
    models = raw.get("models") if isinstance(raw, dict) else None
    found = False
    for item in models if isinstance(models, list) else []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name"))
        for key, parse in (("formula", parse_formula), ("subset", parse_subset)):
            if item.get(key) is None:
                continue
            try:
                parse(item[key], model=name)
            except ConfigError as exc:
                problems.guard(f"{path}: model {name}: {key}", exc)
                found = True
    return found


@dataclass(frozen=True)
class CheckedConfig:
    """What checking a workflow config read and built, for the DAG to use as it is."""

    instrument: Instrument
    models: tuple[ModelSpec, ...]  # the models fitted (``models.run``), in its order
    plan: Plan  # with the fitted models' figures


def check_workflow_config(config: Mapping[str, Any], root: str | Path = ".") -> None:
    """Check every value of the workflow config that names something in the instrument.

    ``config`` is ``config/config.yaml`` as Snakemake reads it (already checked against its
    schema); paths in it are relative to ``root``. Raises one :class:`ConfigError` listing every
    problem as ``key: message`` (each naming the value), or returns None.
    """
    load_workflow_config(config, root)


def load_workflow_config(config: Mapping[str, Any], root: str | Path = ".") -> CheckedConfig:
    """:func:`check_workflow_config`, handing back the instrument, the fitted models and the
    analysis plan it built (each read or built once)."""
    root = Path(root)
    survey = config.get("survey") or {}
    try:
        instrument = load_instrument(root / survey["instrument"])
    except SocialLicenceError as exc:
        raise ConfigError(f"survey.instrument: {exc}") from None
    problems = _Problems()

    if survey.get("layout") == "long":
        item = survey.get("item")
        if not item:
            problems.add(
                "survey.item",
                "a long export (survey.layout: long) needs the column naming the item each row rates",
            )
        elif item not in instrument.variables:
            problems.add("survey.item", f"{item!r} is not a variable of the instrument")
    elif survey.get("item"):
        problems.add("survey.item", "is set, but survey.layout is wide: declare survey.layout: long")
    for column, var in (survey.get("rename") or {}).items():
        if var not in instrument.variables:
            problems.add(f"survey.rename.{column}", f"{var!r} is not a variable of the instrument")
    for var, codes in (survey.get("recode") or {}).items():
        if var not in instrument.variables:
            problems.add(f"survey.recode.{var}", f"{var!r} is not a variable of the instrument")
            continue
        v = instrument.variables[var]
        known = set(v.codes) | set(v.missing) | set(instrument.missing_codes)
        for src, dst in (codes or {}).items():
            if dst not in known:
                problems.add(
                    f"survey.recode.{var}.{src}",
                    f"{dst!r} is not a code of {var!r} (codes: {_names(sorted(known))})",
                )

    try:
        rules = resolve_rules(config.get("cleaning"))
    except ConfigError as exc:
        problems.guard("cleaning", exc)
    else:
        if rules["speeders"]["enabled"]:
            _check_variables(
                problems, "cleaning.speeders.variable", [rules["speeders"]["variable"]], instrument
            )
        straight = rules["straightliners"]
        grids = [straight["grid"]] if isinstance(straight["grid"], str) else straight["grid"]
        for g in grids if straight["enabled"] else []:
            if g not in instrument.grids:
                problems.add(
                    "cleaning.straightliners.grid",
                    f"{g!r} is not a grid of the instrument (grids: {_names(instrument.grids)})",
                )
        attention = rules["attention_check"]
        if attention["enabled"]:
            var = attention["variable"]
            if var not in instrument.variables:
                problems.add(
                    "cleaning.attention_check.variable",
                    f"{var!r} is not a variable of the instrument",
                )
            elif not (attention["pass"] or instrument.variables[var].pass_codes):
                problems.add(
                    "cleaning.attention_check.variable",
                    f"{var!r} has no pass codes in the instrument (add pass: [...] to it)",
                )

    weighting = config.get("weighting") or {}
    # targets and balance covariates belong to a raking; without one they are not read
    if weighting.get("method", "rake") == "rake":
        _check_variables(
            problems, "weighting.covariates", weighting.get("covariates") or [], instrument
        )
        try:
            load_targets(
                root / weighting["targets_file"], weighting["targets"], instrument=instrument
            )
        except SocialLicenceError as exc:
            problems.guard(f"weighting.targets ({weighting.get('targets')!r})", exc)
    elif weighting.get("method") == "supplied" and not instrument.design.get("weight"):
        problems.add(
            "weighting.method",
            "supplied needs the export's final weight named in the instrument's design.weight "
            "(it is null); or set weighting.method: none",
        )

    estimation = config.get("estimation") or {}
    groups = list(estimation.get("groups") or [])
    _check_variables(problems, "estimation.groups", groups, instrument, levels=True)
    try:
        plan = build_plan(config, instrument)
    except SocialLicenceError as exc:
        problems.guard("analysis.questions", exc)
    else:
        _check_plan(problems, config, plan, instrument)

    models_cfg = config.get("models") or {}
    models_file = root / models_cfg.get("file", "config/models.yaml")
    specs = []
    if not _grammar_problems(problems, models_file):
        try:
            specs = load_models(models_file)
        except SocialLicenceError as exc:
            problems.guard("models.file", exc)
    run = models_cfg.get("run", "all")
    names = [s.name for s in specs]
    if run != "all":
        for name in run:
            if specs and name not in names:
                problems.add("models.run", f"{name!r} is not a model of {models_file}")
    try:
        waves = wave_names(config)
    except ConfigError:
        waves = ()  # _check_plan names the fault
    for spec in specs:
        if run == "all" or spec.name in run:
            _check_model(problems, spec, instrument, str(models_cfg.get("file", models_file)), waves)

    if problems.items:
        raise ConfigError(
            f"the configuration has {len(problems.items)} problem(s), found before any job ran:\n"
            + "\n".join(f"  - {p}" for p in problems.items)
        )
    by_name = {s.name: s for s in specs}
    fitted = tuple(specs) if run == "all" else tuple(by_name[n] for n in run if n in by_name)
    effects = any(s.marginal_effects for s in fitted)
    return CheckedConfig(
        instrument, fitted, replace(plan, models=bool(fitted), effects=bool(effects and fitted))
    )
