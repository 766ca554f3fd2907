"""The survey instrument: variables, scales, grids and missing codes, read from ``instrument.yaml``.

The instrument is the single description of the questionnaire that ingest checks an export
against, that the codebook documents, and that analysis uses to know which answers are
substantive, which count as "acceptable", and which cells of a split-ballot grid were never asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import read_yaml, validate
from ..errors import ConfigError

MISSING_REASONS = ("dont_know", "refused", "not_asked", "by_design", "system")
VARIABLE_TYPES = (
    "categorical",
    "ordinal",
    "numeric",
    "text",
    "id",
    "identifier",
    "weight",
    "design",
)


@dataclass(frozen=True)
class Variable:
    """One variable of the instrument."""

    name: str
    label: str
    type: str
    codes: dict[int, str] = field(default_factory=dict)
    missing: dict[int, str] = field(default_factory=dict)
    ordered: bool = False
    role: str | None = None
    positive: tuple[int, ...] = ()
    scale: str | None = None
    grid: str | None = None
    row: str | None = None
    column: str | None = None
    pass_codes: tuple[int, ...] = ()

    @property
    def is_labelled(self) -> bool:
        return bool(self.codes)

    @property
    def labels(self) -> list[str]:
        """Category labels in code order: the order of every table and figure."""
        return [self.codes[c] for c in sorted(self.codes)]

    @property
    def positive_labels(self) -> list[str]:
        return [self.codes[c] for c in self.positive]


@dataclass(frozen=True)
class Grid:
    """A battery of items sharing a scale, indexed by rows (and optionally columns)."""

    name: str
    label: str
    variable: str
    scale: str
    row_name: str
    rows: dict[str, str]
    column_name: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    ballot: str | None = None

    def cells(self) -> Iterator[tuple[str, str, str | None]]:
        """Yield ``(variable, row, column)`` for every item, rows outer, columns inner."""
        for row in self.rows:
            if self.columns:
                for col in self.columns:
                    yield self.variable.format(row=row, column=col), row, col
            else:
                yield self.variable.format(row=row, column=""), row, None

    @property
    def variables(self) -> list[str]:
        return [v for v, _, _ in self.cells()]


@dataclass(frozen=True)
class Instrument:
    """The parsed instrument: variables by name (grid items expanded), grids, design, identifiers."""

    name: str
    variables: dict[str, Variable]
    grids: dict[str, Grid]
    scales: dict[str, dict[str, Any]]
    missing_codes: dict[int, str]
    id: str | None
    identifiers: tuple[str, ...]
    design: dict[str, str | None]
    source: str | None = None

    def __getitem__(self, name: str) -> Variable:
        try:
            return self.variables[name]
        except KeyError:
            raise ConfigError(f"variable {name!r} is not in the instrument {self.source or ''}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.variables

    def by_role(self, role: str) -> list[str]:
        return [v.name for v in self.variables.values() if v.role == role]

    @property
    def labelled(self) -> list[str]:
        return [v.name for v in self.variables.values() if v.is_labelled]


def _int_keys(mapping: Mapping | None, where: str) -> dict[int, str]:
    out: dict[int, str] = {}
    for k, v in (mapping or {}).items():
        try:
            out[int(k)] = str(v)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: code {k!r} is not an integer") from None
    return out


def _check_reasons(missing: dict[int, str], where: str) -> None:
    for code, reason in missing.items():
        if reason not in MISSING_REASONS:
            raise ConfigError(
                f"{where}: missing code {code} has reason {reason!r}; expected one of "
                f"{', '.join(MISSING_REASONS)}"
            )


def scale_midpoint(codes: Mapping[int, str], ordered: bool, declared: Any, where: str) -> int | None:
    """The neutral code of a scale: the declared one (which must be one of its codes, on an
    ordered scale), else the middle code of an ordered scale with an odd number of codes; an
    even one has none (its halves meet between the middle codes), nor has an unordered one."""
    if declared is None:
        order = sorted(codes)
        return order[len(order) // 2] if ordered and len(order) % 2 else None
    if not ordered:
        raise ConfigError(f"{where}: midpoint {declared!r} is given, but the scale is not ordered")
    if isinstance(declared, bool) or not isinstance(declared, int) or declared not in codes:
        raise ConfigError(
            f"{where}: midpoint {declared!r} is not one of its codes ({', '.join(map(str, sorted(codes)))})"
        )
    return declared


def parse_instrument(raw: Mapping[str, Any], source: str | None = None) -> Instrument:
    """Build an :class:`Instrument` from the YAML mapping, checking what JSON Schema cannot."""
    where = source or "instrument"
    default_missing = _int_keys(raw.get("missing_codes"), f"{where}: missing_codes")
    _check_reasons(default_missing, f"{where}: missing_codes")
    scales: dict[str, dict[str, Any]] = {}
    for sname, s in (raw.get("scales") or {}).items():
        codes = _int_keys(s.get("codes"), f"{where}: scale {sname}")
        missing = _int_keys(s.get("missing"), f"{where}: scale {sname} missing") or dict(default_missing)
        _check_reasons(missing, f"{where}: scale {sname}")
        positive = tuple(int(c) for c in s.get("positive", ()))
        unknown = [c for c in positive if c not in codes]
        if unknown:
            raise ConfigError(f"{where}: scale {sname}: positive codes {unknown} are not among its codes")
        ordered = bool(s.get("ordered", False))
        scales[sname] = {
            "codes": codes,
            "missing": missing,
            "ordered": ordered,
            "positive": positive,
            "midpoint": scale_midpoint(codes, ordered, s.get("midpoint"), f"{where}: scale {sname}"),
        }

    def make(spec: Mapping[str, Any], **extra: Any) -> Variable:
        name = spec["name"]
        vwhere = f"{where}: variable {name}"
        scale = spec.get("scale")
        if scale is not None:
            if scale not in scales:
                raise ConfigError(f"{vwhere}: scale {scale!r} is not defined under scales")
            sc = scales[scale]
            codes, missing, ordered, positive = sc["codes"], sc["missing"], sc["ordered"], sc["positive"]
            vtype = spec.get("type", "ordinal" if ordered else "categorical")
        else:
            vtype = spec.get("type", "categorical" if spec.get("codes") else "numeric")
            codes = _int_keys(spec.get("codes"), vwhere)
            missing = (
                _int_keys(spec.get("missing"), f"{vwhere} missing")
                if "missing" in spec
                else (dict(default_missing) if codes else {})
            )
            ordered = vtype == "ordinal"
            positive = tuple(int(c) for c in spec.get("positive", ()))
        if vtype not in VARIABLE_TYPES:
            raise ConfigError(f"{vwhere}: type {vtype!r} is not one of {', '.join(VARIABLE_TYPES)}")
        _check_reasons(missing, vwhere)
        clash = sorted(set(codes) & set(missing))
        if clash:
            raise ConfigError(f"{vwhere}: codes {clash} are both substantive and missing")
        return Variable(
            name=name,
            label=str(spec.get("label", name)),
            type=vtype,
            codes=dict(codes),
            missing=dict(missing),
            ordered=ordered,
            role=spec.get("role"),
            positive=positive,
            scale=scale,
            pass_codes=tuple(int(c) for c in spec.get("pass", ())),
            **extra,
        )

    variables: dict[str, Variable] = {}
    for spec in raw.get("variables") or []:
        if spec["name"] in variables:
            raise ConfigError(f"{where}: variable {spec['name']!r} is declared twice")
        variables[spec["name"]] = make(spec)

    grids: dict[str, Grid] = {}
    for gname, g in (raw.get("grids") or {}).items():
        grid = Grid(
            name=gname,
            label=str(g.get("label", gname)),
            variable=g["variable"],
            scale=g["scale"],
            row_name=g.get("row_name", "row"),
            rows={str(k): str(v) for k, v in g["rows"].items()},
            column_name=g.get("column_name"),
            columns={str(k): str(v) for k, v in (g.get("columns") or {}).items()},
            ballot=g.get("ballot"),
        )
        if grid.ballot is not None and grid.ballot not in variables:
            raise ConfigError(f"{where}: grid {gname}: ballot variable {grid.ballot!r} is not declared")
        for var, row, col in grid.cells():
            if var in variables:
                raise ConfigError(f"{where}: grid {gname} item {var!r} clashes with a variable")
            label = grid.label.format(row=grid.rows[row], column=grid.columns.get(col, "") if col else "")
            variables[var] = make(
                {"name": var, "label": label, "scale": grid.scale, "role": gname},
                grid=gname,
                row=row,
                column=col,
            )
        grids[gname] = grid

    identifiers = tuple(raw.get("identifiers") or ())
    for ident in identifiers:
        if ident not in variables:
            raise ConfigError(f"{where}: identifier {ident!r} is not declared under variables")
    design = {k: (raw.get("design") or {}).get(k) for k in ("weight", "strata", "psu", "fpc")}
    for key, col in design.items():
        if col is not None and col not in variables:
            raise ConfigError(f"{where}: design {key} {col!r} is not declared under variables")
    return Instrument(
        name=str(raw.get("name", "survey")),
        variables=variables,
        grids=grids,
        scales=scales,
        missing_codes=default_missing,
        id=raw.get("id"),
        identifiers=identifiers,
        design=design,
        source=source,
    )


def load_instrument(path: str | Path) -> Instrument:
    """Read and check ``instrument.yaml``."""
    path = Path(path)
    raw = read_yaml(path, "instrument file")
    if not isinstance(raw, dict):
        raise ConfigError(f"instrument file {path} must hold a mapping")
    raw = validate(raw, "instrument", str(path), fill_defaults=False)
    if not isinstance(raw, dict):
        raise ConfigError(f"instrument file {path} must hold a mapping")
    return parse_instrument(raw, source=str(path))
