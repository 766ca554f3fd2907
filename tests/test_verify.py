"""PROVENANCE.json and `social-licence verify` (report/provenance.py, verify.py, cli.py)."""

import json
import os
from pathlib import Path

import pytest
from workflow_helpers import copy_project, snakemake

from social_licence import cli
from social_licence.errors import InputError
from social_licence.io import sha256_file
from social_licence.report.provenance import code_version, provenance
from social_licence.verify import read_manifest

KEY = "verify-test-key"


def test_provenance_records_each_config_file_override_and_seed(tmp_path):
    base = tmp_path / "config.yaml"
    base.write_text("estimation:\n  seed: 7\n")
    extra = tmp_path / "extra.yaml"
    extra.write_text("estimation:\n  adjust: bonf\n")
    record = provenance(
        configfiles=[base, extra],
        overrides={"estimation": {"ci_level": 0.9}},
        config={"estimation": {"seed": 7, "replicates": {"seed": 3}}},
        results=tmp_path / "results",
        root=tmp_path,
    )
    assert record["configfiles"] == [
        {"path": "config.yaml", "sha256": sha256_file(base)},
        {"path": "extra.yaml", "sha256": sha256_file(extra)},
    ]
    assert record["config_overrides"] == {"estimation": {"ci_level": 0.9}}
    assert record["seeds"] == {"estimation.seed": 7, "estimation.replicates.seed": 3}
    assert record["results"] == "results"
    assert record["code"]["source"] == "installed package"  # tmp_path is not a git checkout
    assert len(record["code"]["code_sha256"]) == 64


def test_code_version_of_this_checkout_names_the_commit():
    root = Path(__file__).resolve().parents[1]
    version = code_version(root)
    if not (root / ".git").exists():  # an unpacked archive: the package version names the code
        assert version["source"] == "installed package" and version["package_version"]
        return
    assert version["source"] == "git" and len(version["commit"]) == 40
    assert isinstance(version["dirty"], bool)


def test_a_malformed_manifest_line_is_named(tmp_path):
    path = tmp_path / "MANIFEST.sha256"
    path.write_text("# outputs\nnot a digest\n")
    with pytest.raises(InputError, match="rows: 2"):
        read_manifest(path)


@pytest.mark.slow
def test_verify_reproduces_a_run_and_names_the_one_edited_output(tmp_path, capsys, monkeypatch):
    # One real run with an extra --configfile and a --config override, then one byte of one
    # published table changed: verify's re-run (same key, same config) reproduces every
    # output, and the edited file is the only one reported.
    project = copy_project(tmp_path / "project")
    for name in ("requirements.lock", "environment.yml"):
        (project / name).write_bytes((Path(__file__).resolve().parents[1] / name).read_bytes())
    # the extra file also keeps the run short: one model (the brief's forest plot needs a logit)
    (project / "config" / "extra.yaml").write_text(
        "estimation:\n  adjust: bonf\nmodels:\n  run: [acceptability_logit]\n"
    )
    snakemake(
        project,
        "--configfile", "config/config.yaml", "config/extra.yaml",
        "--config", 'report={"title": "Verified title"}',
        key=KEY,
    )  # fmt: skip
    results = project / "results" / "parents"
    record = json.loads((results / "PROVENANCE.json").read_text())
    assert [c["path"] for c in record["configfiles"]] == ["config/config.yaml", "config/extra.yaml"]
    assert record["config_overrides"] == {"report": {"title": "Verified title"}}
    inputs, outputs = read_manifest(results / "MANIFEST.sha256")
    assert "config/extra.yaml" in inputs
    table = sorted(p for p in outputs if p.startswith("results/parents/tables/") and p.endswith(".csv"))[0]
    data = bytearray((project / table).read_bytes())
    data[-2] = ord("7") if data[-2] != ord("7") else ord("8")
    (project / table).write_bytes(bytes(data))

    monkeypatch.setenv("SOCIAL_LICENCE_KEY", KEY)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert cli.main(["verify", str(results), "--cores", "2"]) == 1
    printed = capsys.readouterr().out
    assert f"OUTPUT DIFFERS FROM MANIFEST: {table}" in printed
    assert "NOT REPRODUCED" not in printed and "INPUT CHANGED" not in printed
    assert "verification FAILED" in printed
    assert os.listdir(results)  # the project's own results are untouched by the re-run
