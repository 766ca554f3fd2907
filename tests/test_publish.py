"""Atomic results: a run builds in work/ and replaces results/ only as a complete, checked set."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from workflow_helpers import snakemake

from social_licence.errors import OutputError
from social_licence.report.manifest import write_manifest
from social_licence.report.publish import check_staged, publish, published_name


def all_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (logs included), by relative path, with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def staged_run(root: Path, text: str) -> None:
    (root / "work" / "tables").mkdir(parents=True, exist_ok=True)
    (root / "work" / "tables" / "t.csv").write_text(text)
    (root / "input.csv").write_text("x\n1\n")
    write_manifest(
        ["input.csv"], ["work/tables/t.csv"], root / "work" / "MANIFEST.sha256", outputs_as=published_name
    )


def test_publish_swaps_in_a_checked_copy_of_the_staging_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    staged_run(tmp_path, "a\n1\n")
    assert publish("work/MANIFEST.sha256") == 2
    assert (tmp_path / "results" / "tables" / "t.csv").read_text() == "a\n1\n"
    manifest = (tmp_path / "results" / "MANIFEST.sha256").read_text()
    assert "  results/tables/t.csv\n" in manifest and "  input.csv\n" in manifest
    check = subprocess.run(["sha256sum", "-c", "results/MANIFEST.sha256"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    staged_run(tmp_path, "a\n2\n")
    publish("work/MANIFEST.sha256")
    assert (tmp_path / "results" / "tables" / "t.csv").read_text() == "a\n2\n"
    assert not (tmp_path / ".results.new").exists() and not (tmp_path / ".results.old").exists()


def test_a_staged_file_that_differs_from_the_manifest_is_never_published(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    staged_run(tmp_path, "a\n1\n")
    publish("work/MANIFEST.sha256")
    before = all_files(tmp_path / "results")
    (tmp_path / "work" / "tables" / "t.csv").write_text("a\n3\n")  # a later, partial run
    with pytest.raises(OutputError, match=r"work/tables/t.csv \(changed"):
        publish("work/MANIFEST.sha256")
    (tmp_path / "work" / "tables" / "t.csv").unlink()
    with pytest.raises(OutputError, match="missing"):
        check_staged("work/MANIFEST.sha256")
    assert all_files(tmp_path / "results") == before


@pytest.mark.slow
def test_a_failed_run_after_a_good_one_leaves_its_results_byte_identical(example_run, tmp_path):
    # the good run: a copy of the session's complete run (times kept, so nothing is out of date)
    workdir = tmp_path / "project"
    shutil.copytree(example_run, workdir, symlinks=True)
    results = workdir / "results" / "parents"
    good = all_files(results)
    assert "MANIFEST.sha256" in good and any(name.startswith("logs/") for name in good)
    dry = snakemake(workdir, "-n")
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # a run that fails half-way: the weighted file in work/ is damaged, so the jobs after the
    # weighting run again and fail, leaving work/ with a partial set
    weighted = workdir / "work" / "parents" / "interim" / "weighted.parquet"
    weighted.write_bytes(b"not a parquet file")
    late = snakemake(workdir, "--keep-going", check=False)
    assert late.returncode != 0
    assert all_files(results) == good, "a run failing half-way changed results/"

    export = workdir / "data" / "raw" / "example" / "parents.sav"
    original = export.read_bytes()
    export.write_bytes(original[: len(original) // 2])  # a truncated copy of the export
    failed = snakemake(workdir, check=False)
    assert failed.returncode != 0
    assert all_files(results) == good, "a failed run changed results/"
    assert not (workdir / "results" / ".parents.new").exists()

    export.write_bytes(original)  # inputs as the good run saw them: its manifest must verify
    check = subprocess.run(
        ["sha256sum", "--quiet", "-c", "results/parents/MANIFEST.sha256"], cwd=workdir, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
