"""The ``social-licence`` command: ``init`` drafts an analysis folder from a survey export;
``verify`` re-runs a results folder's analysis and compares it with its manifest."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import verify
from .errors import SocialLicenceError
from .ingest.draft import draft_analysis, write_draft


def _init(args: argparse.Namespace) -> int:

    draft = draft_analysis(
        args.export,
        args.out,
        id=args.id,
        weight=args.weight,
        strata=args.strata,
        psu=args.psu,
        format=args.format,
    )
    paths = write_draft(draft, args.out, force=args.force)
    for path in paths:
        print(f"wrote {path}")
    kind = (
        f"long form (one row per rating; item column {draft.item})"
        if draft.layout == "long"
        else "wide form (one row per respondent)"
    )
    print(f"drafted a {kind}; {len(draft.grids)} battery(ies): {', '.join(draft.grids) or 'none'}")
    for note in draft.notes:
        print(f"note: {note}")
    reviews = sum(
        text.count("# review:") for text in (draft.config, draft.instrument, draft.models)
    )
    print(f"{reviews} line(s) marked '# review:' need your decision; then run")
    print(f"  snakemake --cores all --configfile {paths[0]}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    return verify.main(args.results_dir, cores=args.cores, keep=args.keep)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="social-licence",
        description="Survey analysis of social licence, from an export to a brief.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser(
        "init",
        help="draft config.yaml, instrument.yaml and models.yaml from an export's own metadata",
        description=(
            "Read an export (SPSS .sav/.zsav/.por, Stata .dta, CSV, Qualtrics CSV, Parquet) and "
            "draft an analysis folder. Every line a researcher should check is marked '# review:'."
        ),
    )
    init.add_argument("export", help="the survey export")
    init.add_argument("--out", required=True, help="folder for the drafted files")
    init.add_argument("--id", help="respondent ID column (repeating IDs mean one row per rating)")
    init.add_argument(
        "--weight", help="final weight column (without it the analysis is unweighted)"
    )
    init.add_argument("--strata", help="stratum column")
    init.add_argument("--psu", help="primary sampling unit (cluster) column")
    init.add_argument(
        "--format",
        choices=["sav", "zsav", "por", "dta", "csv", "qualtrics", "parquet"],
        help="file format (default: from the extension)",
    )
    init.add_argument(
        "--force", action="store_true", help="overwrite drafted files already in --out"
    )
    init.set_defaults(run=_init)
    check = sub.add_parser(
        "verify",
        help="re-run the analysis of a results folder and compare it file by file with its manifest",
    )
    check.add_argument("results_dir", help="the results folder (holds MANIFEST.sha256)")
    check.add_argument("--cores", default="all", help="cores for the re-run (default: all)")
    check.add_argument(
        "--keep",
        metavar="DIR",
        help="re-run in this new folder and leave it, to look at what the re-run made "
        "(default: a temporary folder, removed)",
    )
    check.set_defaults(run=_verify)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except SocialLicenceError as exc:
        print(f"social-licence {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
