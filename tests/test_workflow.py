"""The whole workflow, run for real by Snakemake on the bundled example, as `make` runs it."""

from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pyreadstat
import pytest
import yaml
from workflow_helpers import ROOT, copy_project, result_files, snakemake

pytestmark = pytest.mark.slow

EXPORT = ROOT / "data" / "raw" / "example" / "parents.sav"
IDENTIFIERS = ["email", "postcode", "panel_id", "comment"]


TOKEN = re.compile(r"\w+")


@pytest.fixture(scope="module")
def run1(example_run, tmp_path_factory) -> Path:
    """This module's copy of the shared example run (times kept, so nothing is out of date):
    the tests here run Snakemake in it, which they never do in the shared run."""
    workdir = tmp_path_factory.mktemp("workflow") / "project"
    shutil.copytree(example_run, workdir, symlinks=True)
    return workdir


@pytest.fixture(scope="module")
def raw_identifiers() -> list[tuple[str, ...]]:
    """Every direct identifier and raw respondent ID in the example export, as word tokens."""
    raw, _ = pyreadstat.read_sav(str(EXPORT))
    values: set[tuple[str, ...]] = set()
    for col in IDENTIFIERS + ["respondent_id"]:
        for v in raw[col].dropna().astype(str):
            v = v.strip()
            # short free-text fragments ("None", "n/a") are not identifying and occur by chance
            if col == "comment" and len(v) < 25:
                continue
            if TOKEN.findall(v):
                values.add(tuple(TOKEN.findall(v)))
    assert len(values) > 1000, "the example export should carry identifiers to look for"
    return sorted(values)


def _leaks(text: str, identifiers: list[tuple[str, ...]]) -> list[str]:
    """The identifiers whose word tokens occur in ``text`` as a run of consecutive tokens.

    The text is tokenised once; an identifier is looked for as a phrase only when all of its
    tokens occur in the text (a set lookup), so the cost is linear in the text.
    """
    tokens = TOKEN.findall(text)
    present = set(tokens)
    candidates = [ident for ident in identifiers if all(t in present for t in ident)]
    if not candidates:
        return []
    stream = " " + " ".join(tokens) + " "
    return [" ".join(ident) for ident in candidates if f" {' '.join(ident)} " in stream]


def test_leak_search_finds_identifiers_in_quoted_and_marked_up_text():
    ids = [("P007895",), ("hannah", "edwards8656", "example", "org"), ("SA8", "5NT")]
    text = '"id","mail"\n"P007895","x"\n<td>hannah.edwards8656@example.org</td> SA8 5NTX SA8, P0078950'
    assert _leaks(text, ids) == ["P007895", "hannah edwards8656 example org"]


def _text_of(path: Path) -> str:
    """Everything a file exposes as text: Parquet cells and metadata, docx XML, or raw bytes."""
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        frame = table.to_pandas()
        parts = [str(table.schema.metadata or {})]
        parts.append(frame.reset_index().astype(str).to_csv())
        return "\n".join(parts)
    if path.suffix == ".docx":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return path.read_bytes().decode("utf-8", "replace")


def test_make_leaves_weighted_grid_table_figure_and_brief(run1):
    table = pd.read_csv(run1 / "results/parents/tables/acceptability_items.csv")
    # 6 data types x 4 purposes, each a weighted share with its interval
    assert len(table) == 24
    assert set(table["data_type"]) == {"health", "school", "police", "social_care", "benefits_tax", "housing"}
    shown = table.dropna(subset=["estimate"])
    assert ((shown["estimate"] > 0) & (shown["estimate"] < 1)).all()
    assert (shown["ci_low"] < shown["estimate"]).all() and (shown["estimate"] < shown["ci_high"]).all()
    png = (run1 / "results/parents/figures/acceptability_heatmap.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    html = (run1 / "results/parents/brief/brief.html").read_text(encoding="utf-8")
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', html)
    assert len(sources) >= 5, "the brief should show the main figures"
    # self-contained: every image is embedded, none is a link to a file or the web
    assert all(src.startswith("data:image/") for src in sources)


def test_nothing_to_do_after_a_complete_run(run1):
    proc = snakemake(run1, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_an_edit_of_the_library_reruns_every_job(run1, tmp_path):
    # a comment added to one module of the library under src/: no rule names the module, yet
    # every job imports the library, so every job is out of date (its `library` parameter, the
    # digest of the package, changed): the first jobs for that reason, the others after them
    project = tmp_path / "project"
    shutil.copytree(run1, project, symlinks=True)
    module = project / "src" / "social_licence" / "io.py"
    module.write_text(module.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")
    proc = snakemake(project, "-n")
    log = proc.stdout + proc.stderr
    scheduled = set(re.findall(r"^(?:local)?rule (\w+):", log, flags=re.M))
    rules = set(re.findall(r"^ *rule (\w+):", "".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")), re.M))
    waves_only = {"wave_ingest", "wave_weight", "wave_replicates", "change", "trend_tables", "trend_figure"}
    replicate_jobs_only = {"replicate_weights", "replicates"}  # estimation.replicate_jobs above 1
    assert scheduled - {"all"} == rules - waves_only - replicate_jobs_only
    assert "Params have changed since last execution" in log


def test_manifest_lists_and_verifies_every_input_and_output(run1):
    text = (run1 / "results/parents/MANIFEST.sha256").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    listed = {}
    for line in lines:
        digest, path = line.split("  ", 1)
        listed[path] = digest
        assert hashlib.sha256((run1 / path).read_bytes()).hexdigest() == digest, path
    assert "data/raw/example/parents.sav" in listed
    assert "config/config.yaml" in listed and "config/instrument.yaml" in listed
    # PROVENANCE.json stands beside the manifest, not in it: it records the checkout, Python
    # and platform of the run, which a faithful reproduction on another machine may change
    published = [
        p
        for p in result_files(run1)
        if "/interim/" not in p and not p.endswith(("MANIFEST.sha256", "PROVENANCE.json"))
    ]
    assert (run1 / "results" / "parents" / "PROVENANCE.json").is_file()
    missing = [p for p in published if p not in listed]
    assert not missing, f"outputs missing from the manifest: {missing}"


def test_no_direct_identifier_or_raw_id_in_any_output(run1, raw_identifiers):
    leaks = {}
    files = [path for path in sorted((run1 / "results" / "parents").rglob("*")) if path.is_file()]
    assert len(files) > 20
    for path in files:
        found = _leaks(_text_of(path), raw_identifiers)
        if found:
            leaks[path.relative_to(run1).as_posix()] = found[:3]
    assert not leaks, f"identifiers found in outputs: {leaks}"


def test_row_level_data_only_under_interim(run1):
    clean = pd.read_parquet(run1 / "results/parents/interim/clean.parquet")
    pseudonyms = set(map(str, clean.index))
    assert len(pseudonyms) > 1000 and all(TOKEN.fullmatch(p) for p in pseudonyms)
    for path in sorted((run1 / "results" / "parents").rglob("*")):
        rel = path.relative_to(run1 / "results" / "parents").as_posix()
        if not path.is_file() or rel.startswith("interim/") or rel.startswith("logs/"):
            continue
        hits = pseudonyms & set(TOKEN.findall(_text_of(path)))  # every pseudonym, every token
        assert not hits, f"{rel} carries respondent pseudonyms: {sorted(hits)[:3]}"
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
            assert len(frame) < len(clean), f"{rel} has {len(frame)} rows: row-level?"
            assert not {"respondent", "respondent_id"} & set(frame.columns), f"{rel} has an ID column"


def test_published_tables_withhold_small_bases(run1):
    threshold = yaml.safe_load((ROOT / "config/thresholds.yaml").read_text())["disclosure"]["min_base"]
    checked = 0
    for path in sorted((run1 / "results/parents/tables").glob("*.csv")):
        frame = pd.read_csv(path)
        if "n_unweighted" not in frame.columns or "estimate" not in frame.columns:
            continue
        small = frame["n_unweighted"].notna() & (frame["n_unweighted"] < threshold)
        assert frame.loc[small, "estimate"].isna().all(), f"{path.name} shows a cell with base < {threshold}"
        checked += 1
    assert checked >= 3


def test_illustrative_uk_targets_rake_within_bounds_and_withhold_small_merged_counts(tmp_path):
    threshold = yaml.safe_load((ROOT / "config/thresholds.yaml").read_text())["disclosure"]["min_base"]
    workdir = copy_project(tmp_path / "uk")
    snakemake(
        workdir,
        "work/parents/weighting/collapsed.csv",
        "--config",
        "weighting={targets: uk_parents_illustrative}",
    )
    # a target short of the whole set is built in the staging folder and not published
    assert not (workdir / "results").exists()
    weighting = workdir / "work/parents/weighting"
    convergence = pd.read_csv(weighting / "convergence.csv").iloc[0]
    assert convergence["bound_low"] == 0.3 and convergence["bound_high"] == 3.0
    margins = pd.read_csv(weighting / "margins.csv")
    assert set(margins["margin"]) == {"sex x lone_parent", "lone_parent x ethnicity", "region"}
    assert margins["abs_diff_after"].max() <= 1e-9
    collapsed = pd.read_csv(weighting / "collapsed.csv")
    # The example has 10 male lone parents and 2-5 lone parents of each minority group: merged,
    # and no count from 1 to the threshold is published, in either table.
    assert "Male|Yes" in set(collapsed["category"])
    for frame in (collapsed, margins):
        counts = frame["count_unweighted"].dropna()
        assert not ((counts >= 1) & (counts < threshold)).any()
    assert collapsed["count_unweighted"].isna().sum() >= 4


def test_invalid_config_stops_before_any_job_naming_the_key(tmp_path):
    workdir = copy_project(tmp_path / "bad")
    cfg_path = workdir / "config/config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["weighting"]["bounds"] = "wide"
    cfg_path.write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir, check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert "bounds" in message and "'wide'" in message
    assert not (workdir / "results").exists(), "an invalid config must stop before any job"
    assert not (workdir / "work").exists(), "an invalid config must stop before any job"


def test_qualtrics_export_gives_the_same_clean_data_as_the_sav(run1, tmp_path):
    workdir = copy_project(tmp_path / "qualtrics")
    shutil.copy2(run1 / ".pseudonym_key", workdir / ".pseudonym_key")  # the same pseudonyms
    # the target comes first: --configfile takes every following word as a file
    snakemake(
        workdir,
        "work/parents_qualtrics/interim/clean.parquet",
        "--configfile",
        "config/config.yaml",
        "config/example_qualtrics.yaml",
        key=None,
    )
    from_sav = pd.read_parquet(run1 / "results/parents/interim/clean.parquet")
    from_csv = pd.read_parquet(workdir / "work/parents_qualtrics/interim/clean.parquet")
    pd.testing.assert_frame_equal(from_sav, from_csv, check_like=True)
    flow_sav = pd.read_csv(run1 / "results/parents/qa/flow.csv")
    flow_csv = pd.read_csv(workdir / "work/parents_qualtrics/qa/flow.csv")
    pd.testing.assert_frame_equal(flow_sav, flow_csv)


def test_snakemake_report_has_a_caption_for_every_output(run1):
    snakemake(run1, "--report", "report.zip")
    with zipfile.ZipFile(run1 / "report.zip") as z:
        names = z.namelist()
        text = "\n".join(z.read(n).decode("utf-8", "replace") for n in names if n.endswith((".html", ".js", ".rst")))
    # every published table, figure and model output is in the report under its category
    for expected in ["brief.html", "acceptability_heatmap.png", "acceptability_items.html", "flow.csv"]:
        assert any(n.endswith(expected) for n in names), f"{expected} is not in the report"
    assert "The policy brief: key messages computed from the numbers" in text
    assert "The QA flow" in text


def test_published_numbers_do_not_depend_on_the_pseudonymisation_key(run1, tmp_path):
    # a reviewer has their own key: pseudonyms differ, every estimate must not
    other = copy_project(tmp_path / "other-key")
    snakemake(other, "work/parents/interim/estimates/acceptability_groups.parquet", key="another-key")
    mine = pd.read_parquet(run1 / "results/parents/interim/estimates/acceptability_groups.parquet")
    theirs = pd.read_parquet(other / "work/parents/interim/estimates/acceptability_groups.parquet")
    pd.testing.assert_frame_equal(mine, theirs)
    assert not set(pd.read_parquet(run1 / "results/parents/interim/clean.parquet").index) & set(
        pd.read_parquet(other / "work/parents/interim/clean.parquet").index
    ), "different keys must give different pseudonyms"
