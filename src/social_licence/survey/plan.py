"""The analysis plan: which questions are estimated, tabulated, drawn and written up, by what.

A *question* is one grid of the instrument (a battery of items on one scale) or one variable with
positive answers (e.g. a yes/no "Would this be acceptable?"). The plan lists the questions, each
with the dimensions it is broken down by (the grid's rows and columns; in a long export also the
item column, e.g. the scenario each row rates) and the respondent groups it is compared across.
Every output name follows from the plan, so the workflow's DAG, the estimation stage, the tables,
the figures and the brief all read the same list and nothing names a question of one survey.

The plan is config (``analysis.questions`` in the workflow config, checked against the instrument
by :mod:`social_licence.config_check`); left out, it is drafted from the instrument: every grid
whose scale has positive answers, and every other variable with positive answers that is not a
respondent characteristic, quality check or design variable.

Outputs of a question ``q`` with dimensions ``d1..dk`` (:meth:`Question.estimates`):

- ``q_items``: the share of positive answers per cell of all dimensions (the main table; a
  two-way table and heatmap when k = 2);
- ``q_by_<d>``: the distribution of answers pooled over the other dimensions (k >= 2);
- ``q_responses``: the distribution of answers per cell of all dimensions;
- ``q_groups``: the share of positive answers per cell and group (when the plan has groups);
- ``q_comparisons`` and ``q_tests``: pairwise differences between groups and Rao-Scott tests.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .instrument import Grid, Instrument
from .labels import lower_first

#: Roles of variables that describe respondents or the survey, never a question of the plan.
NOT_QUESTIONS = ("demographic", "quality", "design", "item", "id", "weight", "awareness_check")
#: The most answer codes a figure draws: an ordered scale (diverging colours, 5 a side and a
#: midpoint) and an unordered one (qualitative colours).
DRAWABLE = {True: 11, False: 8}
#: The dimension name of a question made of one variable (its single "row").
QUESTION_DIM = "question"
#: Outputs that are not a question's: models and weighting figures.
MODEL_FIGURES = ("model_forest", "model_effects")
WEIGHTS_FIGURE = "weights"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Question:
    """One question of the plan: a grid (or one variable as a one-item grid) and its breakdowns."""

    name: str
    grid: str
    dims: tuple[str, ...]
    groups: tuple[str, ...] = ()
    compare: bool = True
    figures: bool = True
    title: str = ""
    says: str = ""  # a positive answer to one cell, as a verb phrase with {item}
    item: str = ""  # one cell in words, with a {dim} placeholder per dimension
    shares: bool = True  # False: a scale without positive answers, so distributions only

    @property
    def says_plain(self) -> str:
        """The positive answer of no cell in particular: 'find it acceptable'."""
        return self.says.format(item="it") if "{item}" in self.says else self.says

    @property
    def two_way(self) -> bool:
        return len(self.dims) == 2

    def estimates(self) -> list[str]:
        if not self.shares:
            return [f"{self.name}_responses"] + ([f"{self.name}_by_{d}" for d in self.dims] if len(self.dims) >= 2 else [])
        names = [f"{self.name}_items", f"{self.name}_responses"]
        if len(self.dims) >= 2:
            names += [f"{self.name}_by_{d}" for d in self.dims]
        if self.groups:
            names.append(f"{self.name}_groups")
            if self.compare:
                names += [f"{self.name}_comparisons", f"{self.name}_tests"]
        return names

    def tables(self) -> list[str]:
        if not self.shares:
            return [f"{self.name}_by_{d}" for d in self.dims] if len(self.dims) >= 2 else [f"{self.name}_responses"]
        names = [f"{self.name}_items"]
        names += [f"{self.name}_by_{d}" for d in self.dims] if len(self.dims) >= 2 else [f"{self.name}_responses"]
        if self.groups:
            names.append(f"{self.name}_groups")
            if self.compare:
                names.append(f"{self.name}_comparisons")
        return names

    def figures_(self) -> list[str]:
        if not self.figures:
            return []
        names = [f"{self.name}_by_{d}" for d in self.dims] if len(self.dims) >= 2 else [f"{self.name}_responses"]
        if self.two_way and self.shares:
            names.append(f"{self.name}_heatmap")
        if self.groups:
            names.append(f"{self.name}_groups")
        return names


#: The column naming each row's wave when waves are stacked (design/change.py), a term of stacked models.
WAVE = "wave"

@dataclass(frozen=True)
class Plan:
    """The questions of an analysis, the instrument they are read with, and what else is drawn."""

    questions: tuple[Question, ...]
    instrument: Instrument
    models: bool = False
    effects: bool = False
    weights_figure: bool = False
    population: str = "respondents"
    headline: Mapping[str, Any] | None = None
    waves: tuple[str, ...] = ()  # every wave's name, oldest first, the current wave last
    pool: str | None = None  # how waves are rescaled before pooling (waves_pool.rescale); None: no pooling

    def trend_questions(self) -> list[Question]:
        """Questions whose change between waves is estimated: those with positive answers."""
        return [q for q in self.questions if q.shares] if len(self.waves) > 1 else []

    def trend_tables(self) -> list[str]:
        """Trend tables (``<question>_trend``): each wave's shares and the changes between waves."""
        return [f"{q.name}_trend" for q in self.trend_questions()]

    def pooled_tables(self) -> list[str]:
        """Pooled tables (``<question>_pooled``): each trend question's shares over all waves."""
        return [f"{q.name}_pooled" for q in self.trend_questions()] if self.pool else []

    def trend_figures(self) -> list[str]:
        """Trend figures: the headline question's shares wave by wave."""
        head = self.headline_question
        return [f"{head.name}_trend"] if head is not None and head in self.trend_questions() else []

    def estimates(self) -> list[str]:
        return [n for q in self.questions for n in q.estimates()]

    def tables(self) -> list[str]:
        return [n for q in self.questions for n in q.tables()]

    def figures(self) -> list[str]:
        names = [n for q in self.questions for n in q.figures_()]
        if self.models:
            names.append(MODEL_FIGURES[0])
        if self.models and self.effects:
            names.append(MODEL_FIGURES[1])
        if self.weights_figure:
            names.append(WEIGHTS_FIGURE)
        return names

    def question(self, name: str) -> Question:
        for q in self.questions:
            if q.name == name:
                return q
        raise ConfigError(f"{name!r} is not a question of the analysis plan ({', '.join(q.name for q in self.questions)})")

    def output(self, name: str) -> tuple[Question, str]:
        """The question an output belongs to and its kind (``items``, ``by_<dim>``, ``heatmap`` ...)."""
        for q in sorted(self.questions, key=lambda q: -len(q.name)):
            if name.startswith(q.name + "_"):
                kind = name[len(q.name) + 1 :]
                if name in q.estimates() or name in q.tables() or name in q.figures_():
                    return q, kind
        raise ConfigError(f"{name!r} is not an output of the analysis plan")

    def dimension_label(self, q: Question, dim: str) -> str:
        """A dimension in words: a grid's row or column name, or the item column's label."""
        g = self.instrument.grids[q.grid]
        if dim in (g.row_name, g.column_name) or dim not in self.instrument.variables:
            return dim.replace("_", " ")
        return lower_first(self.instrument.variables[dim].label)

    def level_label(self, q: Question, dim: str, value: Any) -> str:
        """One value of a dimension as readers see it: the grid's row or column label, or the
        value itself (a labelled variable's values are its labels)."""
        g = self.instrument.grids[q.grid]
        labels = g.rows if dim == g.row_name else g.columns if dim == g.column_name else None
        if labels is None:
            return str(value)
        if str(value) not in labels:
            raise ConfigError(f"question {q.name}: {dim} {value!r} is not one of {', '.join(labels)}")
        return labels[str(value)]

    def cell_phrase(self, q: Question, cell: Mapping[str, Any]) -> str:
        """One cell of a question in words, from its ``item`` template (``{dim}`` placeholders);
        labels after the start of a sentence lose a capital that starts no acronym."""
        values = {d: self.level_label(q, d, cell[d]) for d in q.dims if d in cell}
        template = q.item or ", ".join("{" + d + "}" for d in q.dims if d in cell)
        out = template
        for d, label in values.items():
            token = "{" + d + "}"
            out = out.replace(token, label if out.startswith(token) else lower_first(label))
        return out

    def says(self, q: Question, cell: Mapping[str, Any] | None) -> str:
        """The positive answer to one cell as a verb phrase: 'find linking police records for
        early help acceptable'; of the whole question when ``cell`` is empty."""
        if not cell or not q.dims:
            return q.says_plain
        phrase = self.cell_phrase(q, cell)
        return q.says.replace("{item}", phrase if q.says.startswith("{item}") else lower_first(phrase))

    @property
    def headline_question(self) -> Question | None:
        wanted = (self.headline or {}).get("question")
        if wanted:
            return self.question(wanted)
        return self.questions[0] if self.questions else None


def _positive(instrument: Instrument, grid: Grid) -> tuple[int, ...]:
    return tuple(instrument.scales[grid.scale]["positive"])


def variable_grid(instrument: Instrument, name: str) -> tuple[Grid, dict[str, Any]]:
    """A variable as a one-item grid (dimension :data:`QUESTION_DIM`) and its scale."""
    var = instrument[name]
    if not var.codes:
        raise ConfigError(f"variable {name!r} has no answer codes, so it cannot be a question of the plan")
    scale = {"codes": dict(var.codes), "missing": dict(var.missing), "ordered": var.ordered, "positive": tuple(var.positive)}
    grid = Grid(name=name, label=var.label, variable=name, scale=f"{name}.scale", row_name=QUESTION_DIM, rows={name: var.label})
    return grid, scale


def with_questions(instrument: Instrument, variables: Sequence[str]) -> Instrument:
    """The instrument with each of ``variables`` also readable as a one-item grid of its name."""
    grids, scales = dict(instrument.grids), dict(instrument.scales)
    for name in variables:
        if name in grids:
            continue
        grid, scale = variable_grid(instrument, name)
        grids[name], scales[grid.scale] = grid, scale
    return dataclasses.replace(instrument, grids=grids, scales=scales)


def default_questions(instrument: Instrument) -> list[dict[str, Any]]:
    """Questions drafted from the instrument: grids with positive answers, then single variables
    with positive answers that are not respondent characteristics or checks. An instrument with
    none of those (no answer is declared positive) gets the distribution of answers of every grid
    and every labelled variable that is not an identifier, check or design variable."""
    out: list[dict[str, Any]] = [
        {"grid": name} for name, g in instrument.grids.items() if _positive(instrument, g)
    ]
    for var in instrument.variables.values():
        if var.grid is None and var.positive and (var.role or "") not in NOT_QUESTIONS and var.codes:
            out.append({"variable": var.name})
    if out:
        return out
    out = [{"grid": name} for name in instrument.grids]
    skip = set(NOT_QUESTIONS) - {"demographic"}
    for var in instrument.variables.values():
        if var.grid is None and var.codes and (var.role or "") not in skip and var.type in ("categorical", "ordinal"):
            out.append({"variable": var.name})
    return out


def _title(grid: Grid) -> str:
    """A grid's question with its placeholders named: 'How much do you trust [organisation] ...'."""
    label = grid.label
    for key, dim in (("row", grid.row_name), ("column", grid.column_name)):
        label = label.replace("{" + key + "}", f"[{(dim or key).replace('_', ' ')}]")
    return label


def _labels(words: Sequence[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def build_plan(
    config: Mapping[str, Any], instrument: Instrument, *, models: Sequence[str] = (), effects: bool | None = None
) -> Plan:
    """The analysis plan from the workflow config (``analysis``, ``estimation.groups``, ``survey``,
    ``weighting``, ``report``) and the instrument, checked against the instrument. ``models``:
    the models fitted (the odds-ratio figure is drawn when there is any); ``effects``: whether
    any of them has marginal effects (their figure; default: when there are models)."""
    analysis = dict(config.get("analysis") or {})
    survey = dict(config.get("survey") or {})
    estimation = dict(config.get("estimation") or {})
    item = survey.get("item") if survey.get("layout") == "long" else None
    groups_default = tuple(estimation.get("groups") or ())
    declared = analysis.get("questions")
    specs = default_questions(instrument) if declared is None else [dict(q) for q in declared]
    singles = [s["variable"] for s in specs if s.get("variable")]
    for name in singles:
        if name not in instrument.variables:
            raise ConfigError(f"analysis.questions: variable {name!r} is not in the instrument")
    inst = with_questions(instrument, singles)
    questions: list[Question] = []
    for spec in specs:
        source = spec.get("grid") or spec.get("variable")
        if source is None or source not in inst.grids:
            known = ", ".join(instrument.grids) or "none"
            raise ConfigError(f"analysis.questions: {source!r} is neither a grid of the instrument (grids: {known}) nor a variable with answer codes")
        g = inst.grids[source]
        shares = bool(_positive(inst, g))
        if spec.get("by") is not None:
            dims = tuple(spec["by"])
        else:
            dims = tuple(d for d in (g.row_name if len(g.rows) > 1 else None, g.column_name) if d)
            if item:
                dims += (item,)
        allowed = [g.row_name] + ([g.column_name] if g.column_name else []) + ([item] if item else [])
        wrong = [d for d in dims if d not in allowed]
        if wrong or len(dims) > 2:
            raise ConfigError(
                f"analysis.questions: {source} can be broken down by one or two of {allowed}, not {list(dims)}"
            )
        groups = spec.get("groups", True)
        groups = groups_default if groups is True else tuple(groups or ())
        if not shares:
            groups = ()  # group breakdowns compare shares of positive answers
        name = spec.get("name") or source
        if not _NAME.match(name):
            raise ConfigError(f"analysis.questions: name {name!r} must be letters, digits and _ (it names output files)")
        scale = inst.scales[g.scale]
        positive = _labels([scale["codes"][c] for c in scale["positive"]]) if shares else ""
        drawable = len(scale["codes"]) <= DRAWABLE[bool(scale.get("ordered"))]
        if spec.get("figures") and not drawable:
            kind = "ordered" if scale.get("ordered") else "unordered"
            raise ConfigError(
                f"analysis.questions: {source} has {len(scale['codes'])} {kind} answer codes; a figure draws at most "
                f"{DRAWABLE[bool(scale.get('ordered'))]}: set figures: false (its tables are published)"
            )
        label = spec.get("title") or (instrument[source].label if spec.get("variable") else _title(g))
        says = spec.get("says") or (f"answer {positive} for {{item}}" if dims else f"answer {positive}")
        questions.append(
            Question(
                name=name,
                grid=source,
                dims=dims,
                groups=groups,
                compare=bool(spec.get("compare", True)),
                figures=bool(spec.get("figures", drawable)),
                title=label,
                says=says,
                item=spec.get("item") or "",
                shares=shares,
            )
        )
    names = [q.name for q in questions]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ConfigError(f"analysis.questions: names {clash} are used twice; give each question its own `name`")
    outputs = [o for q in questions for o in q.estimates() + q.tables() + q.figures_()]
    for reserved in (*MODEL_FIGURES, WEIGHTS_FIGURE):
        if reserved in outputs:
            raise ConfigError(f"analysis.questions: output {reserved!r} clashes with a figure of the workflow; rename the question")
    weighting = dict(config.get("weighting") or {})
    report = dict(config.get("report") or {})
    waves = wave_names(config)
    pool_cfg = config.get("waves_pool", {"rescale": "sample_size"})
    pool = str((pool_cfg or {}).get("rescale") or "sample_size") if waves and pool_cfg is not None else None
    return Plan(
        questions=tuple(questions),
        instrument=inst,
        models=bool(models),
        effects=bool(models) if effects is None else bool(effects and models),
        weights_figure=weighting.get("method", "rake") == "rake",
        population=analysis.get("population") or "respondents",
        headline=report.get("headline"),
        waves=waves,
        pool=pool,
    )


def wave_names(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The waves of an analysis, oldest first: each of ``waves`` then the current ``survey.wave``;
    () without earlier waves."""
    earlier = [str(w["name"]) for w in config.get("waves") or ()]
    if not earlier:
        return ()
    current = (config.get("survey") or {}).get("wave")
    if not current:
        raise ConfigError("waves are listed, so survey.wave must name the current wave (e.g. survey.wave: w2)")
    names = [*earlier, str(current)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"waves: names {twice} are used twice (survey.wave and each of waves need their own)")
    return tuple(names)
