"""Atomic writes leave no partial file; the manifest is verifiable with sha256sum."""

import hashlib
import subprocess

import pandas as pd
import pytest

from social_licence.io import atomic_write, write_csv
from social_licence.report.manifest import write_manifest


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "out" / "table.csv"

    def broken(tmp):
        tmp.write_text("half a table")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_csv_is_byte_stable_at_full_precision(tmp_path):
    frame = pd.DataFrame({"level": ["a", "b"], "estimate": [1 / 3, 2 / 3]})
    write_csv(frame, tmp_path / "one.csv")
    write_csv(frame.copy(), tmp_path / "two.csv")
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert (tmp_path / "one.csv").read_text() == "level,estimate\na,0.3333333333\nb,0.6666666667\n"


def test_manifest_checks_with_sha256sum(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("input")
    (tmp_path / "out.txt").write_text("output")
    write_manifest(["in.txt"], ["out.txt", "out.txt"], tmp_path / "MANIFEST.sha256")
    lines = (tmp_path / "MANIFEST.sha256").read_text().splitlines()
    assert lines == [
        "# inputs",
        f"{hashlib.sha256(b'input').hexdigest()}  in.txt",
        "# outputs",
        f"{hashlib.sha256(b'output').hexdigest()}  out.txt",
    ]
    check = subprocess.run(["sha256sum", "-c", "MANIFEST.sha256"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0 and "in.txt: OK" in check.stdout


def test_written_file_has_the_ordinary_mode_not_a_private_one(tmp_path):
    import os
    import stat

    from social_licence.io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "brief.html", "<p>hi</p>")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "brief.html").stat().st_mode) == 0o644
