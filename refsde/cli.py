"""Command line: ``refsde validate`` (also ``python -m refsde validate``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="refsde", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="run the validation suite and print a table of checks")
    val.add_argument("--backend", default=None, help="numpy, torch, cupy, jax, array_api_strict (default: REFSDE_BACKEND or numpy)")
    val.add_argument("--dtype", default=None, choices=["float32", "float64"], help="default float dtype")
    val.add_argument("--device", default=None, help="device of the backend, e.g. cuda:0")
    val.add_argument("--only", default=None, help="run only checks whose name contains this text")
    val.add_argument("--seed", type=int, default=0, help="seed of the statistical checks")
    args = parser.parse_args(argv)
    if args.command == "validate":
        from refsde_validation.runner import run_cli

        return run_cli(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
