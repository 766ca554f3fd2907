"""The synthetic example survey: a documented ground-truth model of UK parents and its export.

Long (~1,600 lines) on purpose: one generator with its documented truth -- the population model,
the sampling, the answers and the export writers must stay together to stay consistent.

Real parent data cannot be shipped, so the example export in ``data/raw/example/`` is simulated
here, from a stated model whose population quantities are known exactly. The pipeline is then
checked by recovering them. Hand-written because no library simulates a clustered,
non-randomly responding probability-panel sample with a split-ballot ordinal grid; every number
below is a modelling assumption, plausible for UK parents of dependent children and loosely
rounded from published ONS figures, not an official statistic.

Population (a superpopulation of ``POPULATION_SIZE`` parents of dependent children). Demographics
are drawn as a chain of conditional tables (``_network``): region; ethnicity | region (London far
more diverse); age band | ethnicity; lone parent | age band, ethnicity (more often young, Black or
Mixed, less often Asian); sex | lone parent (lone parents mostly mothers); qualification | age
band; occupation | qualification; income band | occupation, lone parent (lone parents far more
often under £20,000); number of children and youngest child's age | age band; services contact |
income band, lone parent; disability | age band, income band.

Sample (``sample="panel"``). Seven strata (English region groups and the three devolved
nations, over-sampled); in each, PSUs (areas) of about 15 respondents, the area's region drawn in
proportion to population. Within a PSU one adult per sampled household is selected, so a parent
in a household of ``A`` adults (1 for lone parents, 2 for couples, plus an extra adult with
probability ``extra_adult``) has selection probability ``f_h / A``; the panel's
``design_weight`` is ``A / f_h``. Panel members respond with a propensity that is log-linear in
main effects of sex, age band, region, ethnicity, income band and lone parent (lower for men,
under-30s, London, ethnic minority, low-income and lone parents); respondents per PSU are fixed
(the panel fields each area to its quota), so ``f_h`` is set from the expected yield. Because the
propensity has main effects only in those six variables, raking the design weights to their
population margins removes the non-response bias; unweighted estimates keep it.
``sample="srs"`` instead draws a simple random sample of the population with full response.

Attitudes. A latent licence ``L = g(x) + u + v``: group effects ``g`` (ethnicity, lone parent,
age band, income band, services contact; negative for Black, lone, under-30, under-£20,000 and
services-contact parents), a respondent effect ``u ~ N(0, respondent_sd^2)`` shared by all of a
parent's answers, and a PSU effect ``v ~ N(0, psu_sd^2)`` (clustering with a real design
effect). Acceptability of linking data type ``d`` for purpose ``p`` is cumulative logit:
``P(Y <= k) = expit(cut_k - eta)``, ``eta = data_type[d] + purpose[p] + interaction[d, p] + L``.
"Don't know" (8) replaces an answer with probability ``expit(dk_intercept + dk_qualification +
dk_purpose)`` and "Refused" (9) with probability ``refused_item``, both independent of the
rating. Split ballot: ``ballot`` (1-6, uniform) picks 2 of the 4 purposes; the 12 other items
are -1. Trust (4-point) has ``eta = organisation + trust_loading * L`` and rights (5-point
agree) ``eta = right - rights_loading * L``, each with their own "Don't know" rates.

Truth (:func:`population_truth`, written to ``truth.json``): the generating parameters and
census quantities computed exactly, not by simulation: the population joint distribution of the
covariate patterns is enumerated from the conditional tables, the latent effect ``u + v`` is
integrated by Gauss-Hermite quadrature (``GAUSS_HERMITE_NODES`` nodes), and the marginal
(population-averaged) logistic model ``acceptable ~ data_type * purpose + ethnicity +
lone_parent + age_band + income_band + services_contact`` is the census projection: the
weighted logistic fit over every (pattern, item) pair, weighted by population share times the
probability of a substantive answer. "Acceptable" is "Somewhat" or "Very acceptable" among
substantive answers ("Don't know" and "Refused" leave the base), each parent x item pair once.

QA cases in the export (``qa=True``): exact duplicate rows, speeders (under 0.3 of the median
duration, random answers), straight-liners (one code across the grid), failed attention checks,
and a withdrawals list. ``DataFrame.attrs`` of :func:`generate` names them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import string
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io import atomic_path, atomic_write_bytes, atomic_write_text
from ..survey.instrument import Instrument, load_instrument
from ..survey.missing import REASON_DTYPE, reason_column

SEED = 20250303
POPULATION_SIZE = 14_200_000  # parents of dependent children in the UK, rounded assumption
GAUSS_HERMITE_NODES = 40
MIN_PANEL_N = 50
TRUTH_DECIMALS = 6

# Category labels in code order (code = position + 1); they mirror config/instrument.yaml and
# write_example checks that they still do.
LEVELS: dict[str, tuple[str, ...]] = {
    "sex": ("Female", "Male"),
    "age_band": ("18-29", "30-39", "40-49", "50 and over"),
    "region": (
        "North East",
        "North West",
        "Yorkshire and the Humber",
        "East Midlands",
        "West Midlands",
        "East of England",
        "London",
        "South East",
        "South West",
        "Wales",
        "Scotland",
        "Northern Ireland",
    ),
    "ethnicity": ("White", "Mixed", "Asian", "Black", "Other"),
    "qualification": (
        "No qualifications",
        "GCSE or equivalent",
        "A level or equivalent",
        "Degree or above",
    ),
    "occupation": (
        "Managerial and professional",
        "Intermediate",
        "Routine and manual",
        "Never worked or long-term unemployed",
    ),
    "income_band": ("Under £20,000", "£20,000-£39,999", "£40,000-£59,999", "£60,000 or more"),
    "lone_parent": ("Yes", "No"),
    "n_children": ("1", "2", "3 or more"),
    "youngest_age": ("0-4", "5-10", "11-15", "16-17"),
    "services_contact": ("Yes", "No"),
    "disability": ("Yes", "No"),
}
DEMOGRAPHICS = tuple(LEVELS)
WEIGHTING_VARIABLES = ("sex", "age_band", "region", "ethnicity", "income_band", "lone_parent")
GROUP_VARIABLES = ("ethnicity", "lone_parent", "age_band", "income_band", "services_contact")
DATA_TYPES = ("health", "school", "police", "social_care", "benefits_tax", "housing")
PURPOSES = ("early_help", "risk_scoring", "planning", "eligibility")
BALLOTS = {code: pair for code, pair in enumerate(combinations(range(len(PURPOSES)), 2), start=1)}
ORGANISATIONS = ("nhs", "schools", "council", "government", "police", "private")
RIGHTS = ("consent", "view", "opt_out")
AWARENESS = ("Yes", "No", "Not sure")
ACC_ITEMS = tuple(f"acc_{d}__{p}" for d in DATA_TYPES for p in PURPOSES)
TRUST_ITEMS = tuple(f"trust_{o}" for o in ORGANISATIONS)
RIGHTS_ITEMS = tuple(f"rights_{r}" for r in RIGHTS)
ACCEPTABLE_CODES = (4, 5)
TRUST_POSITIVE = (3, 4)
AGREE_POSITIVE = (4, 5)
DK, REFUSED, BY_DESIGN = 8, 9, -1
ATTENTION_PASS = 2

COLUMNS = (
    "respondent_id",
    "panel_id",
    "email",
    "postcode",
    "comment",
    "design_weight",
    "stratum",
    "psu",
    "duration_s",
    "attention_check",
    *DEMOGRAPHICS,
    "awareness",
    "ballot",
    *ACC_ITEMS,
    *TRUST_ITEMS,
    *RIGHTS_ITEMS,
)

# Strata: code -> (name, regions by position in LEVELS["region"]).
STRATA: dict[int, tuple[str, tuple[int, ...]]] = {
    1: ("England: North", (0, 1, 2)),
    2: ("England: Midlands and East", (3, 4, 5)),
    3: ("London", (6,)),
    4: ("England: South", (7, 8)),
    5: ("Wales", (9,)),
    6: ("Scotland", (10,)),
    7: ("Northern Ireland", (11,)),
}


def _rows(table: dict[str, Sequence[float]]) -> np.ndarray:
    """A conditional table from rows that must each sum to 1 (checked, then made exact)."""
    arr = np.array(list(table.values()), dtype=float)
    sums = arr.sum(axis=-1)
    if not np.allclose(sums, 1.0, atol=1e-9):
        raise ConfigError(f"synthetic population table rows do not sum to 1: {sums}")
    return arr / sums[..., None]


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


# The population model of demographics: each entry is (variable, parents, table) with the
# table indexed [parent codes..., own code] (codes 0-based here).
REGION_SHARES = {
    "North East": 0.039,
    "North West": 0.110,
    "Yorkshire and the Humber": 0.082,
    "East Midlands": 0.072,
    "West Midlands": 0.090,
    "East of England": 0.094,
    "London": 0.138,
    "South East": 0.137,
    "South West": 0.078,
    "Wales": 0.045,
    "Scotland": 0.079,
    "Northern Ireland": 0.036,
}
ETHNICITY_BY_REGION = {  # White, Mixed, Asian, Black, Other
    "North East": (0.92, 0.02, 0.04, 0.01, 0.01),
    "North West": (0.83, 0.025, 0.10, 0.03, 0.015),
    "Yorkshire and the Humber": (0.82, 0.025, 0.12, 0.02, 0.015),
    "East Midlands": (0.83, 0.03, 0.09, 0.03, 0.02),
    "West Midlands": (0.72, 0.035, 0.17, 0.05, 0.025),
    "East of England": (0.84, 0.03, 0.07, 0.04, 0.02),
    "London": (0.45, 0.06, 0.22, 0.17, 0.10),
    "South East": (0.85, 0.03, 0.07, 0.03, 0.02),
    "South West": (0.93, 0.025, 0.025, 0.01, 0.01),
    "Wales": (0.93, 0.02, 0.03, 0.01, 0.01),
    "Scotland": (0.92, 0.015, 0.045, 0.01, 0.01),
    "Northern Ireland": (0.965, 0.01, 0.015, 0.005, 0.005),
}
AGE_BY_ETHNICITY = {  # 18-29, 30-39, 40-49, 50 and over
    "White": (0.13, 0.37, 0.36, 0.14),
    "Mixed": (0.22, 0.40, 0.28, 0.10),
    "Asian": (0.16, 0.42, 0.32, 0.10),
    "Black": (0.16, 0.38, 0.34, 0.12),
    "Other": (0.15, 0.42, 0.32, 0.11),
}
LONE_BASE_BY_AGE = (0.24, 0.11, 0.12, 0.14)  # P(lone parent) among White parents
LONE_ODDS_RATIO_BY_ETHNICITY = (1.0, 2.0, 0.45, 3.0, 1.0)
FEMALE_BY_LONE = (0.88, 0.51)  # lone parents, couple parents
QUALIFICATION_BY_AGE = {  # none, GCSE, A level, degree
    "18-29": (0.10, 0.34, 0.30, 0.26),
    "30-39": (0.06, 0.25, 0.23, 0.46),
    "40-49": (0.08, 0.28, 0.22, 0.42),
    "50 and over": (0.12, 0.32, 0.22, 0.34),
}
OCCUPATION_BY_QUALIFICATION = {  # managerial, intermediate, routine, never worked
    "No qualifications": (0.05, 0.15, 0.45, 0.35),
    "GCSE or equivalent": (0.18, 0.27, 0.43, 0.12),
    "A level or equivalent": (0.32, 0.30, 0.31, 0.07),
    "Degree or above": (0.68, 0.20, 0.10, 0.02),
}
INCOME_BY_OCCUPATION_LONE = {  # (occupation, lone) -> four income bands
    ("Managerial and professional", "Yes"): (0.20, 0.45, 0.22, 0.13),
    ("Managerial and professional", "No"): (0.04, 0.16, 0.25, 0.55),
    ("Intermediate", "Yes"): (0.40, 0.42, 0.13, 0.05),
    ("Intermediate", "No"): (0.10, 0.34, 0.30, 0.26),
    ("Routine and manual", "Yes"): (0.60, 0.32, 0.06, 0.02),
    ("Routine and manual", "No"): (0.18, 0.42, 0.25, 0.15),
    ("Never worked or long-term unemployed", "Yes"): (0.88, 0.10, 0.015, 0.005),
    ("Never worked or long-term unemployed", "No"): (0.55, 0.30, 0.10, 0.05),
}
CHILDREN_BY_AGE = {
    "18-29": (0.55, 0.33, 0.12),
    "30-39": (0.40, 0.42, 0.18),
    "40-49": (0.40, 0.40, 0.20),
    "50 and over": (0.58, 0.30, 0.12),
}
YOUNGEST_BY_AGE = {
    "18-29": (0.80, 0.17, 0.025, 0.005),
    "30-39": (0.50, 0.35, 0.13, 0.02),
    "40-49": (0.15, 0.40, 0.35, 0.10),
    "50 and over": (0.03, 0.20, 0.47, 0.30),
}
SERVICES_LOGIT = {"intercept": -2.4, "income_band": (1.1, 0.45, 0.1, 0.0), "lone_parent": 0.8}
DISABILITY_BASE_BY_AGE = (0.08, 0.10, 0.14, 0.20)
DISABILITY_LOG_ODDS_BY_INCOME = (0.7, 0.2, 0.0, 0.0)


def _binary(p_yes: np.ndarray) -> np.ndarray:
    """A table for a Yes/No variable (Yes is code 1, position 0)."""
    return np.stack([p_yes, 1.0 - p_yes], axis=-1)


@lru_cache(maxsize=1)
def _network() -> tuple[tuple[str, tuple[str, ...], np.ndarray], ...]:
    """The demographic model as conditional tables, in an order where parents come first."""
    lone_logit = np.array(
        [
            [_logit(base) + math.log(odds) for odds in LONE_ODDS_RATIO_BY_ETHNICITY]
            for base in LONE_BASE_BY_AGE
        ]
    )
    female = np.array(FEMALE_BY_LONE)
    income = np.array(
        [
            [INCOME_BY_OCCUPATION_LONE[(occ, lone)] for lone in LEVELS["lone_parent"]]
            for occ in LEVELS["occupation"]
        ]
    )
    services_logit = (
        SERVICES_LOGIT["intercept"]
        + np.array(SERVICES_LOGIT["income_band"])[:, None]
        + np.array([SERVICES_LOGIT["lone_parent"], 0.0])[None, :]
    )
    disability_logit = (
        np.array([_logit(p) for p in DISABILITY_BASE_BY_AGE])[:, None]
        + np.array(DISABILITY_LOG_ODDS_BY_INCOME)[None, :]
    )
    return (
        ("region", (), _rows({"all": list(REGION_SHARES.values())})[0]),
        ("ethnicity", ("region",), _rows(ETHNICITY_BY_REGION)),
        ("age_band", ("ethnicity",), _rows(AGE_BY_ETHNICITY)),
        ("lone_parent", ("age_band", "ethnicity"), _binary(_expit(lone_logit))),
        ("sex", ("lone_parent",), np.stack([female, 1 - female], axis=-1)),
        ("qualification", ("age_band",), _rows(QUALIFICATION_BY_AGE)),
        ("occupation", ("qualification",), _rows(OCCUPATION_BY_QUALIFICATION)),
        ("income_band", ("occupation", "lone_parent"), income / income.sum(-1, keepdims=True)),
        ("n_children", ("age_band",), _rows(CHILDREN_BY_AGE)),
        ("youngest_age", ("age_band",), _rows(YOUNGEST_BY_AGE)),
        ("services_contact", ("income_band", "lone_parent"), _binary(_expit(services_logit))),
        ("disability", ("age_band", "income_band"), _binary(_expit(disability_logit))),
    )


def population_distribution(variables: Sequence[str]) -> np.ndarray:
    """Exact population joint distribution of ``variables`` (axes in that order, 0-based codes).

    Sums the product of the conditional tables over every other demographic variable.
    """
    letters = {name: string.ascii_letters[i] for i, (name, _, _) in enumerate(_network())}
    unknown = [v for v in variables if v not in letters]
    if unknown:
        raise ConfigError(f"population_distribution: unknown variables {unknown}")
    operands: list[Any] = []
    for name, parents, table in _network():
        operands += [table, [letters[p] for p in parents] + [letters[name]]]
    spec = (
        ",".join("".join(sub) for sub in operands[1::2])
        + "->"
        + "".join(letters[v] for v in variables)
    )
    return np.einsum(spec, *operands[0::2], optimize="greedy")


# ----------------------------------------------------------------------------------------------
# The attitude, response and design model


def _default_groups() -> dict[str, dict[str, float]]:
    return {
        "ethnicity": {"White": 0.0, "Mixed": -0.2, "Asian": -0.1, "Black": -0.55, "Other": -0.1},
        "lone_parent": {"Yes": -0.35, "No": 0.0},
        "age_band": {"18-29": -0.3, "30-39": 0.0, "40-49": 0.05, "50 and over": 0.1},
        "income_band": {
            "Under £20,000": -0.35,
            "£20,000-£39,999": -0.1,
            "£40,000-£59,999": 0.0,
            "£60,000 or more": 0.05,
        },
        "services_contact": {"Yes": -0.5, "No": 0.0},
    }


def _default_response() -> dict[str, dict[str, float]]:
    return {
        "sex": {"Female": 1.0, "Male": 0.8},
        "age_band": {"18-29": 0.55, "30-39": 0.85, "40-49": 1.0, "50 and over": 1.0},
        "region": {r: (0.85 if r == "London" else 1.0) for r in LEVELS["region"]},
        "ethnicity": {"White": 1.0, "Mixed": 0.75, "Asian": 0.7, "Black": 0.5, "Other": 0.7},
        "income_band": {
            "Under £20,000": 0.55,
            "£20,000-£39,999": 0.75,
            "£40,000-£59,999": 0.9,
            "£60,000 or more": 1.0,
        },
        "lone_parent": {"Yes": 0.45, "No": 1.0},
    }


@dataclass(frozen=True)
class SyntheticModel:
    """Every parameter of the attitude, response and design model (see the module docstring).

    Effects are on the logit scale; a higher latent value means more acceptance (or trust).
    """

    cutpoints: tuple[float, ...] = (-2.6, -1.3, -0.4, 1.3)
    data_type: dict[str, float] = field(
        default_factory=lambda: {
            "health": 0.0,
            "school": 0.1,
            "police": -0.5,
            "social_care": -0.3,
            "benefits_tax": -0.6,
            "housing": -0.2,
        }
    )
    purpose: dict[str, float] = field(
        default_factory=lambda: {
            "early_help": 0.0,
            "risk_scoring": -0.9,
            "planning": 0.6,
            "eligibility": -0.1,
        }
    )
    interaction: dict[str, float] = field(
        default_factory=lambda: {
            "police:risk_scoring": -0.3,
            "benefits_tax:eligibility": 0.5,
            "social_care:planning": -0.2,
        }
    )
    groups: dict[str, dict[str, float]] = field(default_factory=_default_groups)
    respondent_sd: float = 1.2
    psu_sd: float = 0.3
    dk_intercept: float = -3.4
    dk_qualification: dict[str, float] = field(
        default_factory=lambda: {
            "No qualifications": 1.0,
            "GCSE or equivalent": 0.5,
            "A level or equivalent": 0.2,
            "Degree or above": 0.0,
        }
    )
    dk_purpose: dict[str, float] = field(
        default_factory=lambda: {
            "early_help": 0.0,
            "risk_scoring": 0.4,
            "planning": 0.2,
            "eligibility": 0.0,
        }
    )
    refused_item: float = 0.003
    trust_cutpoints: tuple[float, ...] = (-1.8, -0.2, 2.2)
    trust_organisation: dict[str, float] = field(
        default_factory=lambda: {
            "nhs": 1.2,
            "schools": 1.0,
            "council": 0.2,
            "government": -0.5,
            "police": 0.4,
            "private": -1.5,
        }
    )
    trust_loading: float = 0.6
    trust_dk: dict[str, float] = field(
        default_factory=lambda: {
            "nhs": 0.02,
            "schools": 0.03,
            "council": 0.04,
            "government": 0.04,
            "police": 0.03,
            "private": 0.10,
        }
    )
    rights_cutpoints: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.6)
    rights_right: dict[str, float] = field(
        default_factory=lambda: {"consent": 1.2, "view": 1.5, "opt_out": 0.8}
    )
    rights_loading: float = 0.4
    rights_dk: float = 0.03
    awareness_by_qualification: dict[str, tuple[float, float, float]] = field(
        default_factory=lambda: {
            "No qualifications": (0.22, 0.48, 0.30),
            "GCSE or equivalent": (0.30, 0.45, 0.25),
            "A level or equivalent": (0.38, 0.40, 0.22),
            "Degree or above": (0.45, 0.35, 0.20),
        }
    )
    response_base: float = 0.6
    response: dict[str, dict[str, float]] = field(default_factory=_default_response)
    extra_adult: float = 0.15
    allocation: dict[int, float] = field(
        default_factory=lambda: {1: 0.20, 2: 0.21, 3: 0.13, 4: 0.18, 5: 0.09, 6: 0.11, 7: 0.08}
    )
    psu_size: tuple[int, int] = (10, 20)
    item_refusal: dict[str, float] = field(
        default_factory=lambda: {
            "qualification": 0.005,
            "occupation": 0.01,
            "services_contact": 0.01,
            "disability": 0.01,
            "n_children": 0.002,
        }
    )
    attention_pass: float = 0.975
    median_duration_s: float = 720.0

    def effect(self, variable: str) -> np.ndarray:
        """Group effects of ``variable`` as an array in code order."""
        return np.array([self.groups[variable][lab] for lab in LEVELS[variable]])

    def response_factor(self, variable: str) -> np.ndarray:
        return np.array([self.response[variable][lab] for lab in LEVELS[variable]])

    def item_effects(self) -> np.ndarray:
        """``data_type + purpose + interaction`` as a (data type, purpose) array."""
        eta = np.add.outer(
            [self.data_type[d] for d in DATA_TYPES], [self.purpose[p] for p in PURPOSES]
        )
        for key, value in self.interaction.items():
            d, p = key.split(":")
            eta[DATA_TYPES.index(d), PURPOSES.index(p)] += value
        return eta

    @property
    def latent_sd(self) -> float:
        """SD of the whole random part ``u + v`` of the latent licence."""
        return math.sqrt(self.respondent_sd**2 + self.psu_sd**2)


DEFAULT_MODEL = SyntheticModel()


def _group_index(model: SyntheticModel, codes: dict[str, np.ndarray]) -> np.ndarray:
    """``g(x)``: the fixed group part of the latent licence for 0-based codes."""
    return sum(model.effect(v)[codes[v]] for v in GROUP_VARIABLES)


def _draw_categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One draw per row of ``probs`` (rows sum to 1), as 0-based codes."""
    return _draw_cumulative(rng, np.cumsum(probs, axis=1))


def _draw_cumulative(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws from rows of cumulative probabilities."""
    u = rng.random(cum.shape[0])
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)


@lru_cache(maxsize=1)
def _cumulative_network() -> tuple[tuple[str, tuple[str, ...], np.ndarray], ...]:
    return tuple((name, parents, np.cumsum(table, axis=-1)) for name, parents, table in _network())


def _draw_demographics(region: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw every demographic below region from the population model, given region codes."""
    codes = {"region": region}
    for name, parents, cum in _cumulative_network()[1:]:
        codes[name] = _draw_cumulative(rng, cum[tuple(codes[p] for p in parents)])
    return codes


def _response_propensity(model: SyntheticModel, codes: dict[str, np.ndarray]) -> np.ndarray:
    rho = np.full(len(codes["region"]), model.response_base)
    for var in model.response:
        rho = rho * model.response_factor(var)[codes[var]]
    return rho


def _inverse_adults(model: SyntheticModel) -> np.ndarray:
    """E[1/A] for lone (position 0) and couple parents (position 1)."""
    p = model.extra_adult
    return np.array([(1 - p) + p / 2, (1 - p) / 2 + p / 3])


def expected_yield(model: SyntheticModel = DEFAULT_MODEL) -> np.ndarray:
    """E[propensity / adults] by region: respondents per population parent and unit fraction."""
    return _region_expectation(model, with_propensity=True)


def _region_expectation(model: SyntheticModel, *, with_propensity: bool) -> np.ndarray:
    """E[propensity / adults] (or E[1 / adults]) among the parents of each region."""
    variables = ("region", *[v for v in model.response if v != "region"])
    joint = population_distribution(variables)
    value = np.full(joint.shape, model.response_base if with_propensity else 1.0)
    for axis, var in enumerate(variables):
        shape = [1] * len(variables)
        shape[axis] = -1
        if with_propensity:
            value = value * model.response_factor(var).reshape(shape)
        if var == "lone_parent":
            value = value * _inverse_adults(model).reshape(shape)
    by_region = (joint * value).reshape(joint.shape[0], -1).sum(axis=1)
    return by_region / joint.reshape(joint.shape[0], -1).sum(axis=1)


def _allocate(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``shares`` (largest remainder)."""
    raw = total * shares / shares.sum()
    out = np.floor(raw).astype(int)
    order = np.argsort(-(raw - out), kind="stable")
    out[order[: total - out.sum()]] += 1
    return out


def _panel_sample(n: int, rng: np.random.Generator, model: SyntheticModel) -> dict[str, np.ndarray]:
    """Respondents of the stratified, clustered panel sample with differential response."""
    if n < MIN_PANEL_N:
        raise ConfigError(f"synthetic panel sample: n must be at least {MIN_PANEL_N}, not {n}")
    strata = np.array(sorted(STRATA))
    alloc = np.array([model.allocation[h] for h in strata])
    n_h = _allocate(n, alloc)
    region_share = np.array(list(REGION_SHARES.values()))
    region_share = region_share / region_share.sum()
    lo, hi = model.psu_size
    psu_stratum, psu_region, psu_size, psu_code = [], [], [], []
    for h, nh in zip(strata, n_h, strict=True):
        regions = np.array(STRATA[h][1])
        a_h = max(2, int(round(nh / ((lo + hi) / 2))))
        sizes = _allocate(int(nh), rng.integers(lo, hi + 1, a_h).astype(float))
        within = region_share[regions] / region_share[regions].sum()
        psu_region.append(regions[_draw_categorical(rng, np.tile(within, (a_h, 1)))])
        psu_stratum.append(np.full(a_h, h))
        psu_size.append(sizes)
        psu_code.append(h * 100 + np.arange(1, a_h + 1))
    stratum_of = np.concatenate(psu_stratum)
    region_of = np.concatenate(psu_region)
    need = np.concatenate(psu_size)
    codes_of = np.concatenate(psu_code)

    # Acceptance-rejection inside each PSU: candidates from the population of the PSU's region,
    # kept with probability propensity / adults, the first ``need`` kept ones respond.
    yield_r = expected_yield(model)
    pieces: list[dict[str, np.ndarray]] = []
    remaining = need.copy()
    while remaining.sum() > 0:
        todo = np.flatnonzero(remaining > 0)
        draws = np.ceil(remaining[todo] / yield_r[region_of[todo]] * 1.3).astype(int) + 5
        cand_psu = np.repeat(todo, draws)
        codes = _draw_demographics(region_of[cand_psu], rng)
        adults = 1 + codes["lone_parent"] + (rng.random(len(cand_psu)) < model.extra_adult)
        keep = rng.random(len(cand_psu)) < _response_propensity(model, codes) / adults
        kept = np.flatnonzero(keep)
        kept_psu = cand_psu[kept]
        first = np.searchsorted(kept_psu, kept_psu, side="left")
        rank = np.arange(len(kept)) - first
        take = kept[rank < remaining[kept_psu]]
        piece = {k: v[take] for k, v in codes.items()}
        piece["adults"] = adults[take]
        piece["psu_index"] = cand_psu[take]
        pieces.append(piece)
        np.subtract.at(remaining, cand_psu[take], 1)
    sample = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    order = np.argsort(sample["psu_index"], kind="stable")
    sample = {k: v[order] for k, v in sample.items()}
    psu_index = sample.pop("psu_index")

    # f_h: selection fraction that yields n_h respondents in expectation.
    pop_region = POPULATION_SIZE * region_share
    f = {}
    for h, nh in zip(strata, n_h, strict=True):
        regions = list(STRATA[h][1])
        f[h] = nh / float((pop_region[regions] * yield_r[regions]).sum())
    stratum = stratum_of[psu_index]
    sample["stratum"] = stratum
    sample["psu"] = codes_of[psu_index]
    sample["design_weight"] = sample.pop("adults") / np.array([f[h] for h in stratum])
    sample["psu_effect"] = rng.normal(0.0, model.psu_sd, len(need))[psu_index]
    return sample


def _srs_sample(n: int, rng: np.random.Generator, model: SyntheticModel) -> dict[str, np.ndarray]:
    """A simple random sample of the population, everyone responding."""
    if n < 1:
        raise ConfigError(f"synthetic srs sample: n must be at least 1, not {n}")
    region = _draw_categorical(rng, np.tile(_network()[0][2], (n, 1)))
    sample = _draw_demographics(region, rng)
    sample["stratum"] = np.ones(n, dtype=int)
    sample["psu"] = np.arange(1, n + 1)
    sample["design_weight"] = np.full(n, POPULATION_SIZE / n)
    sample["psu_effect"] = rng.normal(0.0, model.psu_sd, n)
    return sample


def _ordinal(rng: np.random.Generator, eta: np.ndarray, cutpoints: Sequence[float]) -> np.ndarray:
    """Cumulative-logit draws: code ``1 + #{k: eta + e > cut_k}``, ``e`` standard logistic."""
    latent = eta + rng.logistic(size=eta.shape)
    return 1 + (latent[..., None] > np.asarray(cutpoints)).sum(axis=-1)


def _missing_answers(
    rng: np.random.Generator, codes: np.ndarray, p_dk: np.ndarray, p_refused: float
) -> np.ndarray:
    """Replace answers by Refused (9) or Don't know (8), independently of the answer."""
    u = rng.random(codes.shape)
    out = np.where(u < p_refused, REFUSED, codes)
    return np.where((u >= p_refused) & (u < p_refused + (1 - p_refused) * p_dk), DK, out)


def _attitudes(
    sample: dict[str, np.ndarray], rng: np.random.Generator, model: SyntheticModel
) -> dict[str, np.ndarray]:
    n = len(sample["region"])
    latent = (
        _group_index(model, sample) + rng.normal(0.0, model.respondent_sd, n) + sample["psu_effect"]
    )
    out: dict[str, np.ndarray] = {}
    ballot = rng.integers(1, len(BALLOTS) + 1, n)
    out["ballot"] = ballot
    eta = model.item_effects().reshape(-1)[None, :] + latent[:, None]  # (n, 24) rows outer
    acc = _ordinal(rng, eta, model.cutpoints)
    dk_logit = (
        model.dk_intercept
        + np.array([model.dk_qualification[q] for q in LEVELS["qualification"]])[
            sample["qualification"]
        ][:, None]
        + np.tile([model.dk_purpose[p] for p in PURPOSES], len(DATA_TYPES))[None, :]
    )
    acc = _missing_answers(rng, acc, _expit(dk_logit), model.refused_item)
    asked = np.zeros((len(BALLOTS) + 1, len(PURPOSES)), dtype=bool)
    for code, pair in BALLOTS.items():
        asked[code, list(pair)] = True
    asked_items = np.tile(asked[ballot], len(DATA_TYPES))
    acc = np.where(asked_items, acc, BY_DESIGN)
    for j, item in enumerate(ACC_ITEMS):
        out[item] = acc[:, j]

    tau = np.array([model.trust_organisation[o] for o in ORGANISATIONS])
    trust = _ordinal(
        rng, tau[None, :] + model.trust_loading * latent[:, None], model.trust_cutpoints
    )
    trust = _missing_answers(
        rng,
        trust,
        np.array([model.trust_dk[o] for o in ORGANISATIONS])[None, :],
        model.refused_item,
    )
    for j, item in enumerate(TRUST_ITEMS):
        out[item] = trust[:, j]
    rho = np.array([model.rights_right[r] for r in RIGHTS])
    rights = _ordinal(
        rng, rho[None, :] - model.rights_loading * latent[:, None], model.rights_cutpoints
    )
    rights = _missing_answers(
        rng, rights, np.full((1, len(RIGHTS)), model.rights_dk), model.refused_item
    )
    for j, item in enumerate(RIGHTS_ITEMS):
        out[item] = rights[:, j]

    aware = np.array([model.awareness_by_qualification[q] for q in LEVELS["qualification"]])
    out["awareness"] = 1 + _draw_categorical(rng, aware[sample["qualification"]])
    out["awareness"] = np.where(rng.random(n) < model.refused_item, REFUSED, out["awareness"])
    passed = rng.random(n) < model.attention_pass
    wrong = np.array([1, 3, 4, 5])[rng.integers(0, 4, n)]
    out["attention_check"] = np.where(passed, ATTENTION_PASS, wrong)
    out["duration_s"] = np.maximum(
        np.round(model.median_duration_s * np.exp(rng.normal(0.0, 0.35, n))), 300
    ).astype(np.int64)
    return out


# ----------------------------------------------------------------------------------------------
# Identifiers (obviously fake) and quality-assurance cases

FIRST_NAMES = (
    "Amelia", "Olivia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Chloe", "Aisha", "Fatima",
    "Zainab", "Priya", "Hannah", "Emma", "Niamh", "Megan", "Oliver", "George", "Harry", "Jack",
    "Noah", "Mohammed", "Leo", "Arthur", "Oscar", "James", "Daniel", "Kwame", "Tomasz", "Rhys",
    "Callum", "Sean",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Khan", "Patel", "Ahmed", "Begum", "Okafor", "Mensah", "Campbell",
    "Murphy", "Kowalski", "Singh", "Lewis", "Morgan",
)  # fmt: skip
POSTCODE_AREAS = {
    "North East": ("NE", "SR", "DH", "TS", "DL"),
    "North West": ("M", "L", "WA", "PR", "BL", "OL", "CH", "CA"),
    "Yorkshire and the Humber": ("LS", "S", "BD", "HU", "YO", "HD", "WF", "DN"),
    "East Midlands": ("NG", "DE", "LE", "LN", "NN"),
    "West Midlands": ("B", "CV", "WV", "WS", "DY", "ST"),
    "East of England": ("CB", "NR", "IP", "CO", "CM", "LU", "SG", "PE"),
    "London": ("E", "N", "SE", "SW", "W", "NW"),
    "South East": ("RG", "OX", "GU", "BN", "ME", "CT", "TN", "MK", "PO", "SO"),
    "South West": ("BS", "BA", "EX", "PL", "TQ", "TR", "GL", "SN", "TA"),
    "Wales": ("CF", "SA", "NP", "LL", "LD"),
    "Scotland": ("EH", "G", "AB", "DD", "KY", "FK", "IV", "PA", "KA"),
    "Northern Ireland": ("BT",),
}
POSTCODE_UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
COMMENTS = (
    "Happy for data to be used if it helps families, as long as it is kept secure.",
    "I worry that predictive scoring will label families unfairly.",
    "Only with consent. Nobody has ever asked us.",
    "We had a bad experience with children's services and I would not trust them with more data.",
    "Fine for planning services if names are removed.",
    "It depends who sees the data and how long it is kept.",
    "Schools already share a lot about our children.",
    "I would want to know when my records have been linked.",
    "Please call me on {phone} if you want to discuss this further.",
    "My name is {first} {last} and I would like to see what is held about my family.",
    "Email me the results at {email} please.",
    "As a foster carer I can see both sides of this.",
)
COMMENT_SHARE = 0.15
FIELDWORK_START = np.datetime64("2025-03-03T08:00:00")
FIELDWORK_SECONDS = 20 * 24 * 3600


def _qa_counts(n: int) -> dict[str, int]:
    return {
        "duplicate": math.ceil(n / 300),
        "speeder": math.ceil(0.015 * n),
        "straight_liner": math.ceil(0.012 * n),
        "withdrawn": math.ceil(n / 400),
    }


def _postcodes(region: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Valid-format UK postcodes (area of the parent's region), random and synthetic."""
    n = len(region)
    pick = rng.random(n)
    district = rng.integers(1, 21, n).tolist()
    sector = rng.integers(0, 10, n).tolist()
    units = rng.integers(0, len(POSTCODE_UNIT_LETTERS), (n, 2))
    letters = np.array(list(POSTCODE_UNIT_LETTERS))
    unit = np.char.add(letters[units[:, 0]], letters[units[:, 1]]).tolist()
    areas = [POSTCODE_AREAS[r] for r in LEVELS["region"]]
    area = [
        areas[r][int(p * len(areas[r]))]
        for r, p in zip(region.tolist(), pick.tolist(), strict=True)
    ]
    return [f"{a}{d} {s}{u}" for a, d, s, u in zip(area, district, sector, unit, strict=True)]


def _identifiers(sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, list[str]]:
    n = len(sample["region"])
    ids = rng.choice(10 * n, n, replace=False) + 1
    panel = rng.choice(9_000_000, n, replace=False) + 1_000_000
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    suffix = rng.choice(max(9000, 10 * n), n, replace=False) + 1000
    first, last = first.tolist(), last.tolist()
    emails = [
        f"{FIRST_NAMES[a].lower()}.{LAST_NAMES[b].lower()}{s}@example.org"
        for a, b, s in zip(first, last, suffix.tolist(), strict=True)
    ]
    has_comment = (rng.random(n) < COMMENT_SHARE).tolist()
    which = rng.integers(0, len(COMMENTS), n).tolist()
    phone = rng.integers(0, 1000, n).tolist()
    comments = [
        COMMENTS[which[i]].format(
            phone=f"07700 900{phone[i]:03d}",  # Ofcom's range reserved for drama
            first=FIRST_NAMES[first[i]],
            last=LAST_NAMES[last[i]],
            email=emails[i],
        )
        if has_comment[i]
        else ""
        for i in range(n)
    ]
    return {
        "respondent_id": [f"P{i:06d}" for i in ids.tolist()],
        "panel_id": [f"PNL{p:07d}" for p in panel.tolist()],
        "email": emails,
        "postcode": _postcodes(sample["region"], rng),
        "comment": comments,
    }


def _apply_qa(out: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, list[int]]:
    """Turn some respondents into speeders and straight-liners (in place); return positions."""
    n = len(out["ballot"])
    counts = _qa_counts(n)
    chosen = rng.choice(n, counts["speeder"] + counts["straight_liner"], replace=False)
    speeders = np.sort(chosen[: counts["speeder"]])
    liners = np.sort(chosen[counts["speeder"] :])
    asked = np.column_stack([out[item] != BY_DESIGN for item in ACC_ITEMS])
    for item in ACC_ITEMS:
        random_codes = rng.integers(1, 6, len(speeders))
        out[item][speeders] = np.where(
            asked[speeders, ACC_ITEMS.index(item)], random_codes, BY_DESIGN
        )
    for item in TRUST_ITEMS:
        out[item][speeders] = rng.integers(1, 5, len(speeders))
    for item in RIGHTS_ITEMS:
        out[item][speeders] = rng.integers(1, 6, len(speeders))
    out["attention_check"][speeders] = rng.integers(1, 6, len(speeders))
    out["duration_s"][speeders] = rng.integers(90, 200, len(speeders))
    acc_code = np.array([1, 3, 5])[rng.integers(0, 3, len(liners))]
    trust_code = rng.integers(1, 5, len(liners))
    for item in ACC_ITEMS:
        out[item][liners] = np.where(asked[liners, ACC_ITEMS.index(item)], acc_code, BY_DESIGN)
    for item in TRUST_ITEMS:
        out[item][liners] = trust_code
    # Straight-liners are quick but not speeders: 0.6 of their time, never under 300 seconds.
    out["duration_s"][liners] = np.maximum(np.round(out["duration_s"][liners] * 0.6), 300)
    return {"speeder": speeders.tolist(), "straight_liner": liners.tolist()}


def generate(
    n: int = 1500,
    seed: int = SEED,
    *,
    sample: str = "panel",
    qa: bool = True,
    model: SyntheticModel = DEFAULT_MODEL,
) -> pd.DataFrame:
    """Draw the raw coded export of ``n`` parents (numeric codes as in ``instrument.yaml``).

    ``sample="panel"`` is the stratified, clustered probability-panel sample with differential
    response; ``"srs"`` a simple random sample of the population with full response (one
    stratum, every parent its own PSU). With ``qa=True`` the export also holds exact duplicate
    rows (so it has ``n`` parents but more rows), speeders, straight-liners, failed attention
    checks; ``attrs`` name them (respondent IDs) and the IDs in the withdrawals list. Rows are in
    fieldwork completion order. The same ``n``, ``seed`` and options give the same frame.
    """
    if sample not in ("panel", "srs"):
        raise ConfigError(f"synthetic sample must be 'panel' or 'srs', not {sample!r}")
    n = int(n)
    rng = np.random.default_rng(seed)
    drawn = _panel_sample(n, rng, model) if sample == "panel" else _srs_sample(n, rng, model)
    answers = _attitudes(drawn, rng, model)
    if not qa:
        answers["attention_check"][:] = ATTENTION_PASS
    positions = _apply_qa(answers, rng) if qa else {}
    refused = {var: rng.random(n) < share for var, share in model.item_refusal.items()}
    ident = _identifiers(drawn, rng)

    data: dict[str, Any] = dict(ident)
    data["design_weight"] = np.round(drawn["design_weight"], 4)
    data["stratum"] = drawn["stratum"].astype(np.int64)
    data["psu"] = drawn["psu"].astype(np.int64)
    data["duration_s"] = answers["duration_s"]
    data["attention_check"] = answers["attention_check"]
    for var in DEMOGRAPHICS:
        data[var] = np.where(refused.get(var, False), REFUSED, drawn[var] + 1).astype(np.int64)
    for key in ("awareness", "ballot", *ACC_ITEMS, *TRUST_ITEMS, *RIGHTS_ITEMS):
        data[key] = np.asarray(answers[key], dtype=np.int64)
    frame = pd.DataFrame({c: data[c] for c in COLUMNS})

    # Fieldwork order: a random completion order; duplicates re-submitted later.
    order_key = rng.permutation(n).astype(float)
    attrs: dict[str, Any] = {"seed": seed, "n": n, "sample": sample, "qa": {}, "withdrawals": []}
    if qa:
        counts = _qa_counts(n)
        ids = np.asarray(ident["respondent_id"])
        dup = np.sort(rng.choice(n, counts["duplicate"], replace=False))
        dup_key = order_key[dup] + rng.uniform(0.5, n - order_key[dup] + 0.5)
        frame = pd.concat([frame, frame.iloc[dup]], ignore_index=True)
        order_key = np.concatenate([order_key, dup_key])
        withdrawn = np.sort(rng.choice(n, counts["withdrawn"], replace=False))
        failed = np.flatnonzero(answers["attention_check"] != ATTENTION_PASS)
        attrs["qa"] = {
            "duplicate": sorted(ids[dup].tolist()),
            "speeder": sorted(ids[positions["speeder"]].tolist()),
            "straight_liner": sorted(ids[positions["straight_liner"]].tolist()),
            "attention_failed": sorted(ids[failed].tolist()),
        }
        attrs["withdrawals"] = sorted(ids[withdrawn].tolist())
    frame = frame.iloc[np.argsort(order_key, kind="stable")].reset_index(drop=True)
    frame.attrs = attrs
    return frame


# ----------------------------------------------------------------------------------------------
# The census truth


CENSUS_VARIABLES = (*GROUP_VARIABLES, "qualification")


def census_table(model: SyntheticModel = DEFAULT_MODEL) -> pd.DataFrame:
    """Every (covariate pattern, grid item) of the population with its exact probabilities.

    Columns: the group variables and qualification (labels, Categoricals in code order),
    ``data_type``, ``purpose``, ``population_share`` (share of parents with the pattern; sums to
    1 within an item), ``p_answer`` (probability of a substantive answer) and ``p_acceptable``
    (probability of "Somewhat" or "Very acceptable" given a substantive answer, the latent
    effect integrated out by Gauss-Hermite quadrature).
    """
    joint = population_distribution(CENSUS_VARIABLES)
    grids = np.meshgrid(*[np.arange(s) for s in joint.shape], indexing="ij")
    codes = {v: g.reshape(-1) for v, g in zip(CENSUS_VARIABLES, grids, strict=True)}
    share = joint.reshape(-1)
    nodes, weights = np.polynomial.hermite.hermgauss(GAUSS_HERMITE_NODES)
    u = math.sqrt(2.0) * model.latent_sd * nodes
    w = weights / math.sqrt(math.pi)
    g = _group_index(model, codes)
    items = model.item_effects().reshape(-1)
    eta = g[:, None, None] + items[None, :, None] + u[None, None, :]
    p_acc = (_expit(eta - model.cutpoints[2]) * w).sum(axis=-1)  # P(Y >= 4)
    dk_logit = (
        model.dk_intercept
        + np.array([model.dk_qualification[q] for q in LEVELS["qualification"]])[
            codes["qualification"]
        ][:, None]
        + np.tile([model.dk_purpose[p] for p in PURPOSES], len(DATA_TYPES))[None, :]
    )
    p_answer = (1 - model.refused_item) * (1 - _expit(dk_logit))
    n_pat, n_item = p_acc.shape
    table = {
        v: pd.Categorical.from_codes(np.repeat(codes[v], n_item), categories=list(LEVELS[v]))
        for v in CENSUS_VARIABLES
    }
    table["data_type"] = pd.Categorical.from_codes(
        np.tile(np.repeat(np.arange(len(DATA_TYPES)), len(PURPOSES)), n_pat),
        categories=list(DATA_TYPES),
    )
    table["purpose"] = pd.Categorical.from_codes(
        np.tile(np.arange(len(PURPOSES)), n_pat * len(DATA_TYPES)), categories=list(PURPOSES)
    )
    table["population_share"] = np.repeat(share, n_item)
    table["p_answer"] = p_answer.reshape(-1)
    table["p_acceptable"] = p_acc.reshape(-1)
    return pd.DataFrame(table)


MARGINAL_TERMS = ("ethnicity", "lone_parent", "age_band", "income_band", "services_contact")
MARGINAL_FORMULA = (
    "acceptable ~ data_type * purpose + ethnicity + lone_parent + age_band + income_band"
    " + services_contact"
)


def _marginal_design(table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Treatment-coded design matrix of the standard model, named and ordered as a formula."""
    cols: list[np.ndarray] = [np.ones(len(table))]
    names = ["Intercept"]
    dummies: dict[str, list[tuple[str, np.ndarray]]] = {}
    for var in ("data_type", "purpose", *MARGINAL_TERMS):
        cat = table[var].cat
        dummies[var] = [
            (f"{var}[T.{lev}]", (cat.codes.to_numpy() == k).astype(float))
            for k, lev in enumerate(cat.categories)
            if k > 0
        ]
    for var in ("data_type", "purpose", *MARGINAL_TERMS):
        for name, col in dummies[var]:
            names.append(name)
            cols.append(col)
    for pname, pcol in dummies["purpose"]:
        for dname, dcol in dummies["data_type"]:
            names.append(f"{dname}:{pname}")
            cols.append(dcol * pcol)
    return np.column_stack(cols), names


def _weighted_logit(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted logistic regression with fractional outcomes, by Newton's method.

    Products go through ``np.einsum`` rather than BLAS: the matrices are small, and a
    multi-threaded BLAS on a busy machine is ten times slower here than one plain loop.
    """
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        mu = _expit(np.einsum("ij,j->i", X, beta))
        grad = np.einsum("ij,i->j", X, w * (y - mu))
        root = X * np.sqrt(w * mu * (1 - mu))[:, None]
        hess = np.einsum("ij,ik->jk", root, root)
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-13:
            return beta
    raise ConfigError("census projection of the marginal logistic model did not converge")


def _share(values: np.ndarray, weights: np.ndarray) -> float:
    return float((values * weights).sum() / weights.sum())


def _r(x: float) -> float:
    return round(float(x), TRUTH_DECIMALS)


def _ordinal_positive(
    eta: np.ndarray, cutpoints: Sequence[float], first_positive: int
) -> np.ndarray:
    """P(Y >= first_positive) under the cumulative logit."""
    return _expit(eta - cutpoints[first_positive - 2])


def population_truth(model: SyntheticModel = DEFAULT_MODEL) -> dict[str, Any]:
    """The generating parameters and the exact census quantities, as written to truth.json."""
    shares = {
        var: {
            lab: _r(p) for lab, p in zip(LEVELS[var], population_distribution([var]), strict=True)
        }
        for var in DEMOGRAPHICS
    }
    sex_age = population_distribution(["sex", "age_band"])
    joint_sex_age = {
        f"{s}|{a}": _r(sex_age[i, j])
        for i, s in enumerate(LEVELS["sex"])
        for j, a in enumerate(LEVELS["age_band"])
    }

    table = census_table(model)
    w = (table["population_share"] * table["p_answer"]).to_numpy()
    y = table["p_acceptable"].to_numpy()

    def by(column: str) -> dict[str, float]:
        out = {}
        for lev in table[column].cat.categories:
            mask = (table[column] == lev).to_numpy()
            out[str(lev)] = _r(_share(y[mask], w[mask]))
        return out

    by_cell = {}
    for d in DATA_TYPES:
        by_cell[d] = {}
        for p in PURPOSES:
            mask = ((table["data_type"] == d) & (table["purpose"] == p)).to_numpy()
            by_cell[d][p] = _r(_share(y[mask], w[mask]))
    dont_know = {}
    for p in PURPOSES:
        mask = (table["purpose"] == p).to_numpy()
        dont_know[p] = _r(
            1
            - _share(table["p_answer"].to_numpy()[mask], table["population_share"].to_numpy()[mask])
            - model.refused_item
        )

    # The marginal model does not use qualification: merge the rows that differ only in it
    # (exact for a likelihood with fractional outcomes), a quarter of the work.
    n_qual = len(LEVELS["qualification"])
    n_item = len(DATA_TYPES) * len(PURPOSES)
    w4 = w.reshape(-1, n_qual, n_item)
    w_m = w4.sum(axis=1).reshape(-1)
    y_m = (w4 * y.reshape(w4.shape)).sum(axis=1).reshape(-1) / w_m
    merged = table[(table["qualification"].cat.codes == 0).to_numpy()].reset_index(drop=True)
    X, names = _marginal_design(merged)
    beta = _weighted_logit(X, y_m, w_m)
    ames: dict[str, dict[str, float]] = {}
    for var in MARGINAL_TERMS:
        levels = [str(lev) for lev in merged[var].cat.categories]
        dummy = [names.index(f"{var}[T.{lev}]") for lev in levels[1:]]
        ref = X.copy()
        ref[:, dummy] = 0.0
        p_ref = _expit(ref @ beta)
        ames[var] = {}
        for lev, col in zip(levels[1:], dummy, strict=True):
            alt = ref.copy()
            alt[:, col] = 1.0
            ames[var][lev] = _r(_share(_expit(alt @ beta) - p_ref, w_m))

    # Trust and rights: share positive among substantive answers (their DK does not depend on x).
    groups = population_distribution(GROUP_VARIABLES)
    grids = np.meshgrid(*[np.arange(s) for s in groups.shape], indexing="ij")
    gcodes = {v: g.reshape(-1) for v, g in zip(GROUP_VARIABLES, grids, strict=True)}
    gshare = groups.reshape(-1)
    nodes, weights = np.polynomial.hermite.hermgauss(GAUSS_HERMITE_NODES)
    latent = _group_index(model, gcodes)[:, None] + math.sqrt(2.0) * model.latent_sd * nodes
    gh = weights / math.sqrt(math.pi)
    trust = {
        o: _r(
            gshare
            @ (
                _ordinal_positive(
                    model.trust_organisation[o] + model.trust_loading * latent,
                    model.trust_cutpoints,
                    TRUST_POSITIVE[0],
                )
                @ gh
            )
        )
        for o in ORGANISATIONS
    }
    rights = {
        r: _r(
            gshare
            @ (
                _ordinal_positive(
                    model.rights_right[r] - model.rights_loading * latent,
                    model.rights_cutpoints,
                    AGREE_POSITIVE[0],
                )
                @ gh
            )
        )
        for r in RIGHTS
    }
    qual = population_distribution(["qualification"])
    aware = qual @ np.array([model.awareness_by_qualification[q] for q in LEVELS["qualification"]])

    yield_r = expected_yield(model)
    selected_r = _region_expectation(model, with_propensity=False)
    region_share = np.array(list(REGION_SHARES.values()))
    region_share = region_share / region_share.sum()
    return {
        "description": (
            "Ground truth of the synthetic example survey of UK parents of dependent children "
            "(social_licence.synthetic). Census quantities are exact population values of the "
            "generating model, not sample estimates."
        ),
        "population": {
            "size": POPULATION_SIZE,
            "weighting_variables": list(WEIGHTING_VARIABLES),
            "shares": shares,
            "joint_shares": {"sex|age_band": joint_sex_age},
        },
        "design": {
            "strata": {
                str(h): {
                    "name": name,
                    "regions": [LEVELS["region"][r] for r in regions],
                    "population": int(round(POPULATION_SIZE * region_share[list(regions)].sum())),
                    "sample_share": model.allocation[h],
                    "response_rate": _r(
                        (region_share[list(regions)] * yield_r[list(regions)]).sum()
                        / (region_share[list(regions)] * selected_r[list(regions)]).sum()
                    ),
                }
                for h, (name, regions) in STRATA.items()
            },
            "psu_size": list(model.psu_size),
            "design_weight": "adults in household / f_h (inverse selection probability)",
            "extra_adult": model.extra_adult,
            "response_base": model.response_base,
            "response_factors": model.response,
        },
        "acceptability_model": {
            "link": "cumulative logit: P(Y <= k) = expit(cutpoint_k - eta)",
            "cutpoints": list(model.cutpoints),
            "data_type": model.data_type,
            "purpose": model.purpose,
            "interaction": model.interaction,
            "groups": model.groups,
            "respondent_sd": model.respondent_sd,
            "psu_sd": model.psu_sd,
            "dont_know": {
                "intercept": model.dk_intercept,
                "qualification": model.dk_qualification,
                "purpose": model.dk_purpose,
            },
            "refused": model.refused_item,
        },
        "trust_model": {
            "cutpoints": list(model.trust_cutpoints),
            "organisation": model.trust_organisation,
            "loading": model.trust_loading,
            "dont_know": model.trust_dk,
        },
        "rights_model": {
            "cutpoints": list(model.rights_cutpoints),
            "right": model.rights_right,
            "loading": -model.rights_loading,
            "dont_know": model.rights_dk,
        },
        "census": {
            "method": (
                f"exact: population covariate patterns enumerated from the conditional tables, "
                f"latent effect integrated by Gauss-Hermite quadrature ({GAUSS_HERMITE_NODES} "
                f"nodes), marginal model by weighted logistic projection over all pattern x item "
                f"pairs"
            ),
            "acceptable_definition": (
                "rating Somewhat or Very acceptable among substantive answers (Don't know and "
                "Refused excluded), each parent x item pair counted once"
            ),
            "acceptable_overall": _r(_share(y, w)),
            "acceptable_by_cell": by_cell,
            "acceptable_by_data_type": by("data_type"),
            "acceptable_by_purpose": by("purpose"),
            "acceptable_by_group": {var: by(var) for var in GROUP_VARIABLES},
            "dont_know_by_purpose": dont_know,
            "marginal_logit": {
                "formula": MARGINAL_FORMULA,
                "reference_levels": {
                    var: str(table[var].cat.categories[0])
                    for var in ("data_type", "purpose", *MARGINAL_TERMS)
                },
                "coefficients": {name: _r(b) for name, b in zip(names, beta, strict=True)},
            },
            "average_marginal_effects": {
                "definition": (
                    "from the census marginal logistic model: mean over pairs of "
                    "P(acceptable | level) - P(acceptable | reference level)"
                ),
                "effects": ames,
            },
            "trust_positive": trust,
            "rights_agree": rights,
            "awareness": {lab: _r(p) for lab, p in zip(AWARENESS, aware, strict=True)},
        },
    }


# ----------------------------------------------------------------------------------------------
# Files: SPSS .sav, Qualtrics-style CSV, truth.json, withdrawals.csv

MISSING_LABELS = {
    "dont_know": "Don't know",
    "refused": "Refused",
    "by_design": "Not asked (split ballot)",
    "not_asked": "Not asked",
    "system": "Missing",
}
SAV_FILE_LABEL = "Synthetic example: parents' social licence survey"
SAV_TIMESTAMP = b"03 Mar 2500:00:00"  # fixed creation date and time: 9 + 8 bytes
SAV_TIMESTAMP_OFFSET = 92  # after $FL2, product name, five int32s and the bias double


def check_against_instrument(frame: pd.DataFrame, instrument: Instrument) -> None:
    """Every column is an instrument variable, every coded value one of its codes or missing codes."""
    where = instrument.source or "instrument"
    missing = [v for v in instrument.variables if v not in frame.columns]
    extra = [c for c in frame.columns if c not in instrument.variables]
    if missing or extra:
        raise ConfigError(
            f"{where}: the synthetic export and the instrument disagree: "
            f"not generated {missing}, not in the instrument {extra}"
        )
    for name, var in instrument.variables.items():
        if not var.is_labelled:
            continue
        allowed = set(var.codes) | set(var.missing)
        values = pd.unique(frame[name])
        bad = sorted(int(v) for v in values if int(v) not in allowed)
        if bad:
            rows = np.flatnonzero(frame[name].isin(bad).to_numpy()) + 1
            raise ConfigError(
                f"{where}: variable {name}: generated value {bad[0]} is not among its codes or "
                f"missing codes (rows {', '.join(map(str, rows[:5]))})"
            )
    for var, labels in LEVELS.items():
        if instrument[var].labels != list(labels):
            raise ConfigError(
                f"{where}: variable {var}: labels {instrument[var].labels} differ from the "
                f"generator's {list(labels)}"
            )
    ballot = instrument["ballot"].codes
    for code, pair in BALLOTS.items():
        expected = " + ".join(PURPOSES[i] for i in pair)
        if ballot.get(code) != expected:
            raise ConfigError(f"{where}: ballot code {code} should be {expected!r}")


def _measure(var) -> str:
    if var.type in ("numeric", "weight"):
        return "scale"
    if var.ordered:
        return "ordinal"
    return "nominal"


def analysis_frame(raw: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """A generated coded export as an analysis frame, by the instrument alone.

    Labels become Categoricals with ``v__reason`` columns beside them, the respondent ID the
    index and the design weight the ``weight`` column; identifiers are left out. No QA rule is
    applied, so this suits samples drawn with ``qa=False`` (benchmarks, model tests) without the
    export round trip that ingest makes.
    """
    frame = pd.DataFrame(index=pd.Index(raw["respondent_id"].astype(str), name="respondent"))
    for name, var in instrument.variables.items():
        if name not in raw.columns or var.type in ("id", "identifier"):
            continue
        codes = raw[name].to_numpy()
        if var.is_labelled:
            labels = pd.Series(codes).map(var.codes).to_numpy()
            frame[name] = pd.Categorical(labels, categories=var.labels, ordered=var.ordered)
            why = pd.Series(codes).map(var.missing).to_numpy()
            frame[reason_column(name)] = pd.Categorical(why, dtype=REASON_DTYPE)
        else:
            frame[name] = codes
    frame["weight"] = frame["design_weight"].astype(float)
    return frame


def write_sav(frame: pd.DataFrame, path: str | Path, instrument: Instrument) -> None:
    """Write the export as SPSS .sav with labels and user-missing codes, byte-stable."""
    import pyreadstat  # heavy (reads SPSS/Stata): only when the example export is written

    columns = list(instrument.variables)
    out = frame[columns].copy()
    value_labels, missing, formats = {}, {}, {}
    for name in columns:
        var = instrument[name]
        if var.is_labelled:
            labels = {code: lab for code, lab in sorted(var.codes.items())}
            for code, reason in sorted(var.missing.items()):
                labels[code] = MISSING_LABELS[reason]
            value_labels[name] = labels
            if var.missing:
                missing[name] = sorted(var.missing)
            width = max(len(str(c)) for c in labels)
            formats[name] = f"F{width}.0"
        elif var.type == "weight":
            formats[name] = "F12.4"
        elif var.type in ("numeric", "design"):
            formats[name] = "F8.0"
    for name in columns:
        if pd.api.types.is_numeric_dtype(out[name]):
            out[name] = out[name].astype(float)
        else:
            out[name] = out[name].astype(object)
    with atomic_path(path) as tmp:
        pyreadstat.write_sav(
            out,
            str(tmp),
            file_label=SAV_FILE_LABEL,
            row_compress=True,
            column_labels={name: instrument[name].label for name in columns},
            variable_value_labels=value_labels,
            missing_ranges=missing,
            variable_measure={name: _measure(instrument[name]) for name in columns},
            variable_format=formats,
        )
        raw = bytearray(tmp.read_bytes())
        if raw[:4] != b"$FL2":
            raise ConfigError(f"pyreadstat wrote an unexpected .sav header to {path}")
        # The header holds the creation date and time; fix them so the file is byte-stable.
        raw[SAV_TIMESTAMP_OFFSET : SAV_TIMESTAMP_OFFSET + len(SAV_TIMESTAMP)] = SAV_TIMESTAMP
        tmp.write_bytes(bytes(raw))


# Qualtrics layout: question numbers of the instrument's variables.
QUALTRICS_QUESTIONS: dict[str, str] = {
    "sex": "Q1",
    "age_band": "Q2",
    "region": "Q3",
    "postcode": "Q4",
    "ethnicity": "Q5",
    "qualification": "Q6",
    "occupation": "Q7",
    "income_band": "Q8",
    "lone_parent": "Q9",
    "n_children": "Q10",
    "youngest_age": "Q11",
    "services_contact": "Q12",
    "disability": "Q13",
    "awareness": "Q14",
    **{
        f"acc_{d}__{p}": f"Q{15 + j}_{i + 1}"
        for j, p in enumerate(PURPOSES)
        for i, d in enumerate(DATA_TYPES)
    },
    **{item: f"Q19_{i + 1}" for i, item in enumerate(TRUST_ITEMS)},
    "attention_check": "Q20",
    **{item: f"Q21_{i + 1}" for i, item in enumerate(RIGHTS_ITEMS)},
    "comment": "Q22",
}
QUALTRICS_TEXT_ENTRY = ("postcode", "comment")
QUALTRICS_METADATA = (
    ("StartDate", "Start Date", '{"ImportId":"startDate","timeZone":"Europe/London"}'),
    ("EndDate", "End Date", '{"ImportId":"endDate","timeZone":"Europe/London"}'),
    ("Status", "Response Type", '{"ImportId":"status"}'),
    ("IPAddress", "IP Address", '{"ImportId":"ipAddress"}'),
    ("Progress", "Progress", '{"ImportId":"progress"}'),
    ("Duration (in seconds)", "Duration (in seconds)", '{"ImportId":"duration"}'),
    ("Finished", "Finished", '{"ImportId":"finished"}'),
    ("RecordedDate", "Recorded Date", '{"ImportId":"recordedDate","timeZone":"Europe/London"}'),
    ("ResponseId", "Response ID", '{"ImportId":"_recordId"}'),
    ("RecipientLastName", "Recipient Last Name", '{"ImportId":"recipientLastName"}'),
    ("RecipientFirstName", "Recipient First Name", '{"ImportId":"recipientFirstName"}'),
    ("RecipientEmail", "Recipient Email", '{"ImportId":"recipientEmail"}'),
    ("ExternalReference", "External Data Reference", '{"ImportId":"externalDataReference"}'),
    ("LocationLatitude", "Location Latitude", '{"ImportId":"locationLatitude"}'),
    ("LocationLongitude", "Location Longitude", '{"ImportId":"locationLongitude"}'),
    ("DistributionChannel", "Distribution Channel", '{"ImportId":"distributionChannel"}'),
    ("UserLanguage", "User Language", '{"ImportId":"userLanguage"}'),
)
QUALTRICS_EMBEDDED = {
    "panel_id": "PanelID",
    "design_weight": "DesignWeight",
    "stratum": "Stratum",
    "psu": "PSU",
    "ballot": "Ballot",
}
QUALTRICS_METADATA_RENAME = {
    "ExternalReference": "respondent_id",
    "RecipientEmail": "email",
    "Duration (in seconds)": "duration_s",
}
REGION_CENTRES = (
    (54.97, -1.61), (53.48, -2.24), (53.80, -1.55), (52.95, -1.15), (52.48, -1.89), (52.20, 0.12),
    (51.51, -0.13), (51.45, -0.97), (50.72, -3.53), (51.48, -3.18), (55.86, -4.25), (54.60, -5.93),
)  # fmt: skip


def qualtrics_rename() -> dict[str, str]:
    """Qualtrics export column -> instrument variable: the ``survey.rename`` of the example."""
    out = dict(QUALTRICS_METADATA_RENAME)
    out.update({q: v for v, q in QUALTRICS_QUESTIONS.items()})
    out.update({q: v for v, q in QUALTRICS_EMBEDDED.items()})
    return out


def _question_text(var: str, instrument: Instrument) -> str:
    v = instrument[var]
    if v.grid is not None and v.column is not None:
        g = instrument.grids[v.grid]
        stem = g.label.format(row="these records", column=g.columns[v.column])
        return f"{stem} - {g.rows[v.row].capitalize()}"
    if v.grid is not None:
        g = instrument.grids[v.grid]
        return f"{g.label.format(row='these organisations')} - {g.rows[v.row]}"
    return v.label


def qualtrics_csv(frame: pd.DataFrame, instrument: Instrument) -> str:
    """The same responses as a Qualtrics export: three header rows, metadata, Q-columns.

    Metadata (dates, IP addresses in the documentation ranges, response IDs, names,
    locations) is drawn from a stream of its own seed, so it never changes the survey answers.
    """
    seed = frame.attrs.get("seed", SEED)
    rng = np.random.default_rng([int(seed), 7])
    rows = len(frame)
    starts = np.sort(rng.integers(0, FIELDWORK_SECONDS, rows))
    start = FIELDWORK_START + starts.astype("timedelta64[s]")
    end = start + frame["duration_s"].to_numpy().astype("timedelta64[s]")
    alphabet = np.array(list(string.ascii_letters + string.digits))
    response_ids = [
        "R_" + "".join(alphabet[rng.integers(0, len(alphabet), 15)]) for _ in range(rows)
    ]
    nets = ("192.0.2", "198.51.100", "203.0.113")  # RFC 5737 documentation addresses
    net = rng.integers(0, 3, rows)
    host = rng.integers(1, 255, rows)
    jitter = rng.uniform(-0.3, 0.3, (rows, 2))
    names = [e.split("@")[0].rstrip("0123456789").split(".") for e in frame["email"]]

    def fmt(t: np.datetime64) -> str:
        return str(t).replace("T", " ")

    header = [m[0] for m in QUALTRICS_METADATA]
    text = [m[1] for m in QUALTRICS_METADATA]
    imports = [m[2] for m in QUALTRICS_METADATA]
    qcols = [v for v in QUALTRICS_QUESTIONS]
    qcols.sort(key=lambda v: _question_key(QUALTRICS_QUESTIONS[v]))
    for var in qcols:
        q = QUALTRICS_QUESTIONS[var]
        header.append(q)
        text.append(_question_text(var, instrument))
        qid = "QID" + q[1:] + ("_TEXT" if var in QUALTRICS_TEXT_ENTRY else "")
        imports.append(json.dumps({"ImportId": qid}, separators=(",", ":")))
    for name in QUALTRICS_EMBEDDED.values():
        header.append(name)
        text.append(name)
        imports.append(json.dumps({"ImportId": name}, separators=(",", ":")))

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerow(text)
    writer.writerow(imports)
    region = frame["region"].to_numpy() - 1
    cells = {c: [_cell(v) for v in frame[c].tolist()] for c in [*qcols, *QUALTRICS_EMBEDDED]}
    emails = frame["email"].tolist()
    ids = frame["respondent_id"].tolist()
    durations = frame["duration_s"].tolist()
    for i in range(rows):
        lat, lon = REGION_CENTRES[region[i]]
        row = [
            fmt(start[i]),
            fmt(end[i]),
            "0",
            f"{nets[net[i]]}.{host[i]}",
            "100",
            str(int(durations[i])),
            "1",
            fmt(end[i]),
            response_ids[i],
            names[i][1].capitalize(),
            names[i][0].capitalize(),
            emails[i],
            ids[i],
            f"{lat + jitter[i, 0]:.4f}",
            f"{lon + jitter[i, 1]:.4f}",
            "email",
            "EN-GB",
        ]
        row += [cells[var][i] for var in qcols]
        row += [cells[var][i] for var in QUALTRICS_EMBEDDED]
        writer.writerow(row)
    return "\ufeff" + buf.getvalue()


def _question_key(q: str) -> tuple[int, int]:
    number, _, sub = q[1:].partition("_")
    return int(number), int(sub or 0)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(int(value))


def write_example(
    out: str | Path,
    n: int = 1500,
    seed: int = SEED,
    instrument: str | Path | Instrument = "config/instrument.yaml",
) -> list[Path]:
    """Write parents.sav, parents_qualtrics.csv, truth.json and withdrawals.csv into ``out``."""
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(instrument)
    frame = generate(n, seed)
    check_against_instrument(frame, inst)
    out = Path(out)
    paths = [
        out / name
        for name in ("parents.sav", "parents_qualtrics.csv", "truth.json", "withdrawals.csv")
    ]
    write_sav(frame, paths[0], inst)
    atomic_write_bytes(paths[1], qualtrics_csv(frame, inst).encode("utf-8"))
    truth = population_truth()
    truth["generated_with"] = {
        "command": f"python -m social_licence.synthetic --n {n} --seed {seed} --out <folder>",
        "n_parents": n,
        "rows": len(frame),
        "seed": seed,
        "sample": "panel",
        "qa": frame.attrs.get("qa", {}),
    }
    atomic_write_text(paths[2], json.dumps(truth, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(
        paths[3], "respondent_id\n" + "".join(f"{i}\n" for i in frame.attrs["withdrawals"])
    )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m social_licence.synthetic",
        description="Write the synthetic example survey export and its ground truth.",
    )
    parser.add_argument("--out", default="data/raw/example", help="output folder")
    parser.add_argument("--n", type=int, default=1500, help="number of parents")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    parser.add_argument("--instrument", default="config/instrument.yaml", help="instrument file")
    args = parser.parse_args(argv)
    for path in write_example(args.out, args.n, args.seed, args.instrument):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
