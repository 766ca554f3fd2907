"""Every rule declares what a scheduler needs (issue: resources on every rule): ``threads``,
``resources`` with ``mem_mb`` and ``runtime``, and a ``benchmark:`` file; the rules defined only
under a condition (the replicate shares, the waves) included."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ("threads:", "resources:", "mem_mb=", "runtime=", "benchmark:")


def _rules() -> dict[str, str]:
    """Each rule's text (up to the next rule), by name, from workflow/rules/*.smk."""
    rules = {}
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = path.read_text(encoding="utf-8")
        found = list(re.finditer(r"^( *)rule (\w+):", text, re.M))
        for i, match in enumerate(found):
            end = found[i + 1].start() if i + 1 < len(found) else len(text)
            rules[match.group(2)] = text[match.end() : end]
    return rules


def test_every_rule_declares_threads_memory_runtime_and_a_benchmark_file():
    rules = _rules()
    # the conditional ones are seen too (indented under an `if`)
    assert {"weight", "replicate_weights", "replicates", "wave_weight", "trend_tables"} <= set(rules)
    missing = {name: [k for k in NEEDED if k not in block] for name, block in rules.items()}
    assert {name: keys for name, keys in missing.items() if keys} == {}
