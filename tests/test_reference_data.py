"""The reference data in tests/data/reference is complete, unchanged, and what its R scripts make.

SHA256SUMS lists every file (written by ``make reference``); the R scripts in ``r/`` name the
files, designs and models they write, and the committed CSVs must cover exactly those. Where
Rscript is installed, the scripts are run into a copy and must reproduce the committed numbers to
the README's tolerances (1e-6 relative; R's zero standard errors compared absolutely).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import DATA

REFERENCE = DATA / "reference"
SCRIPTS = sorted((REFERENCE / "r").glob("*.R"))
R_REFERENCE = REFERENCE / "api" / "r_reference"


def _listed() -> dict[str, str]:
    sums = REFERENCE / "SHA256SUMS"
    assert sums.is_file(), f"{sums} is missing (make reference writes it)"
    listed = {}
    for line in sums.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.removeprefix("./")] = digest
    return listed


def test_every_reference_file_is_present_and_unchanged():
    listed = _listed()
    assert len(listed) >= 20
    missing = [name for name in listed if not (REFERENCE / name).is_file()]
    assert not missing, f"reference files missing from {REFERENCE}: {missing}"
    changed = [
        name for name, digest in listed.items() if hashlib.sha256((REFERENCE / name).read_bytes()).hexdigest() != digest
    ]
    assert not changed, f"reference files differ from SHA256SUMS (run make reference, or restore them): {changed}"
    on_disk = {
        p.relative_to(REFERENCE).as_posix()
        for p in REFERENCE.rglob("*")
        if p.is_file() and p.name not in {"SHA256SUMS", "README.md"}
    }
    assert on_disk == set(listed), f"files not in SHA256SUMS: {sorted(on_disk - set(listed))}"


def _written_by(script_text: str) -> set[str]:
    """The CSVs a script writes: write.csv(x, file.path(<dir>, "name.csv"), ...)."""
    return set(re.findall(r'write\.csv\([^;\n]*?file\.path\((?:out|"api")\s*,\s*"([\w.]+\.csv)"\)', script_text))


def _designs_of(script_text: str) -> set[str]:
    """The design names of a script's designs <- list(name = svydesign(...), ...)."""
    return set(re.findall(r"^\s*(\w+)\s*=\s*svydesign\(", script_text, flags=re.M))


def test_r_scripts_and_committed_csvs_cover_the_same_files_designs_and_models():
    assert {s.name for s in SCRIPTS} >= {"designs_and_raking.R", "models_and_tests.R", "make_reference.R"}
    written: dict[str, str] = {}
    for script in SCRIPTS:
        text = script.read_text()
        for name in _written_by(text):
            assert name not in written, f"{name} is written by both {written[name]} and {script.name}"
            written[name] = script.name
        designs = _designs_of(text)
        for name in _written_by(text):
            path = (REFERENCE / "api" / name) if name.startswith("api") else (R_REFERENCE / name)
            assert path.is_file(), f"{script.name} writes {name}, but {path} is not committed"
            frame = pd.read_csv(path)
            if "design" in frame.columns:
                assert set(frame["design"]) == designs, (
                    f"{path.name} covers designs {sorted(set(frame['design']))}, {script.name} defines {sorted(designs)}"
                )
            if "model" in frame.columns:
                models = set(re.findall(r"(\w+)\s*=\s*svyglm\(", text))
                assert set(frame["model"]) == models, f"{path.name} models differ from {script.name}'s {sorted(models)}"
    committed = {p.name for p in R_REFERENCE.glob("*.csv")} | {p.name for p in (REFERENCE / "api").glob("*.csv")}
    assert committed == set(written), (
        f"committed but written by no script: {sorted(committed - set(written))}; "
        f"written but not committed: {sorted(set(written) - committed)}"
    )
    assert (R_REFERENCE / "versions.txt").read_text().startswith("R "), "versions.txt names the R version"


def _agree(committed: pd.DataFrame, regenerated: pd.DataFrame, name: str) -> None:
    assert list(committed.columns) == list(regenerated.columns) and committed.shape == regenerated.shape, name
    for col in committed.columns:
        a, b = committed[col], regenerated[col]
        if pd.api.types.is_numeric_dtype(a):
            # R's zero SEs come out as 0 or ~1e-17 noise: compared absolutely below 1e-12
            np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=1e-6, atol=1e-12, err_msg=f"{name}: {col}")
        else:
            assert a.tolist() == b.tolist(), f"{name}: {col}"


@pytest.mark.slow
@pytest.mark.needs_program("Rscript")
def test_r_scripts_reproduce_the_committed_numbers(tmp_path):
    copy = shutil.copytree(REFERENCE, tmp_path / "reference")
    out = tmp_path / "regenerated"
    proc = subprocess.run(
        ["Rscript", "r/make_reference.R", str(out)], cwd=copy, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"make_reference.R failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    regenerated = sorted(p.name for p in out.glob("*.csv"))
    assert regenerated == sorted(p.name for p in R_REFERENCE.glob("*.csv"))
    for name in regenerated:
        _agree(pd.read_csv(R_REFERENCE / name), pd.read_csv(out / name), name)
    for data in (REFERENCE / "api").glob("*.csv"):  # data(api) written out again, byte for byte
        assert (copy / "api" / data.name).read_bytes() == data.read_bytes(), data.name


def test_no_test_or_benchmark_reads_outside_the_repository():
    """A clone without anything beside it runs every test: no path to a sibling shared folder."""
    root = DATA.parent.parent
    pattern = re.compile(r"""\.\./shared|parents?\[?\d?\]?\.parent\s*/\s*["']shared["']|["']shared["']\s*/""")
    offenders = [
        path.relative_to(root).as_posix()
        for folder in ("tests", "benchmarks")
        for path in sorted((root / folder).rglob("*.py"))
        if path.name != "test_reference_data.py" and pattern.search(path.read_text())
    ]
    assert not offenders, f"these files refer to a folder outside the repository: {offenders}"
