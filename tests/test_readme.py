"""What the README shows a user runs: its Python example, and its promises about the workflow."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_python_example_runs_and_prints_the_shares():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use the library from Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # five organisations of the example's trust grid, each a share between 0 and 1
    rows = [line.split() for line in proc.stdout.splitlines()[1:]]
    assert [r[1] for r in rows] == ["nhs", "schools", "council", "government", "police"]
    assert all(0 < float(r[4]) < float(r[3]) < float(r[5]) < 1 for r in rows)


def test_no_file_of_the_workflow_names_a_variable_or_grid_of_the_example():
    """The DAG follows the analysis plan: nothing under workflow/ or scripts/ (or the Snakefile)
    names a grid, grid dimension or variable of the bundled example's instrument."""
    instrument = yaml.safe_load((ROOT / "config" / "instrument.yaml").read_text(encoding="utf-8"))
    names = {v["name"] for v in instrument["variables"]} | set(instrument["grids"])
    names |= {g[k] for g in instrument["grids"].values() for k in ("row_name", "column_name") if g.get(k)}
    names |= {"acceptability", "trust", "rights", "data_type", "purpose", "parents"}
    files = [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk"), *(ROOT / "scripts").glob("*.py")]
    files += list((ROOT / "workflow" / "report").glob("*.rst"))
    found = {}
    for path in files:
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", path.read_text(encoding="utf-8").lower()))
        hits = sorted(words & names)
        if hits:
            found[path.relative_to(ROOT).as_posix()] = hits
    assert found == {}
