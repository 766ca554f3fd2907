"""The ``social-licence`` console command: one subcommand per task, each kept in its own module."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import verify


def _verify(args: argparse.Namespace) -> int:
    return verify.main(args.results_dir, cores=args.cores)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="social-licence", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    check = sub.add_parser(
        "verify",
        help="re-run the analysis of a results folder and compare it file by file with its manifest",
    )
    check.add_argument("results_dir", help="the results folder (holds MANIFEST.sha256)")
    check.add_argument("--cores", default="all", help="cores for the re-run (default: all)")
    check.set_defaults(run=_verify)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
