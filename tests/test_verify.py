"""PROVENANCE.json and `social-licence verify` (report/provenance.py, verify.py, cli.py)."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_helpers import result_files, snakemake

from social_licence import cli
from social_licence.errors import InputError
from social_licence.io import sha256_file
from social_licence.report.provenance import code_version, provenance
from social_licence.verify import read_manifest


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
def test_verify_reproduces_a_run_and_names_the_one_edited_output(example_run, tmp_path, capsys, monkeypatch):
    # The shared example run (its key file created by that run), re-run here with an extra
    # --configfile and a --config override that restate configured values: only the manifest
    # jobs re-run, and PROVENANCE.json records both. Then one byte of one published table is
    # changed: verify's re-run (from a copy with the key file, the recorded config files and
    # override) reproduces every other output byte for byte, interim files included, so this is
    # also the check that a second run gives the same bytes, and the edited file is the only
    # one reported.
    assert "created a new random key" in (example_run / "results/parents/logs/ingest.log").read_text()
    project = tmp_path / "project"
    shutil.copytree(example_run, project, symlinks=True)
    for name in ("requirements.lock", "environment.yml"):
        (project / name).write_bytes((Path(__file__).resolve().parents[1] / name).read_bytes())
    configured = yaml.safe_load((project / "config" / "config.yaml").read_text())
    adjust, title = configured["estimation"]["adjust"], configured["report"]["title"]
    (project / "config" / "extra.yaml").write_text(yaml.safe_dump({"estimation": {"adjust": adjust}}))
    proc = snakemake(
        project,
        "--configfile", "config/config.yaml", "config/extra.yaml",
        "--config", f"report={json.dumps({'title': title})}",
        key=None,
    )  # fmt: skip
    assert set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M)) <= {
        "manifest", "publish", "all"
    }  # the same config: nothing computed again
    results = project / "results" / "parents"
    record = json.loads((results / "PROVENANCE.json").read_text())
    assert [c["path"] for c in record["configfiles"]] == ["config/config.yaml", "config/extra.yaml"]
    assert record["config_overrides"] == {"report": {"title": title}}
    inputs, outputs = read_manifest(results / "MANIFEST.sha256")
    assert "config/extra.yaml" in inputs
    published = result_files(project)
    assert any("/interim/" in p for p in published)
    # the manifest holds what a reviewer can reproduce without the pseudonymisation key: every
    # published file but the row-level interim files (pseudonymised with the key) and itself
    assert set(outputs) == {
        p for p in published if "/interim/" not in p and not p.endswith(("MANIFEST.sha256", "PROVENANCE.json"))
    }
    table = sorted(p for p in outputs if p.startswith("results/parents/tables/") and p.endswith(".csv"))[0]
    data = bytearray((project / table).read_bytes())
    data[-2] = ord("7") if data[-2] != ord("7") else ord("8")
    (project / table).write_bytes(bytes(data))

    monkeypatch.delenv("SOCIAL_LICENCE_KEY", raising=False)  # the key file of the run is read
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    rerun = tmp_path / "rerun"
    assert cli.main(["verify", str(results), "--cores", "2", "--keep", str(rerun)]) == 1
    printed = capsys.readouterr().out
    assert f"OUTPUT DIFFERS FROM MANIFEST: {table}" in printed
    assert "NOT REPRODUCED" not in printed and "INPUT CHANGED" not in printed
    assert "verification FAILED" in printed
    assert os.listdir(results)  # the project's own results are untouched by the re-run

    # the re-run, kept: every published file, interim files included, is byte-identical to the
    # run's, as a second run with the key file must be
    again = result_files(rerun)
    published[table] = (example_run / table).read_bytes()  # before the edit
    assert sorted(again) == sorted(published)
    assert sorted(p for p in published if again[p] != published[p]) == []
