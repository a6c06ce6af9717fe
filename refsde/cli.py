"""Command line: ``refsde validate`` (also ``python -m refsde validate``).

``refsde validate``                      validate refsde itself on the backend (table, exit code 0 iff all pass)
``refsde validate --impl mod:obj``       run the refsde.testing checks on a user's implementation instead
``refsde validate --report R.md``        also write a markdown report (figures only with --plots)
``refsde validate --plots DIR``          write the figures to DIR (of the --impl code, or of refsde itself)
``refsde validate --bench [--quick]``    run the benchmarks instead (results in backends/<name>/BENCH.md;
                                         ``--sections 2,2b``: only those, spliced into the existing file)
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refsde", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    val = sub.add_parser("validate", help="run the validation suite and print a table of checks")
    val.add_argument("--backend", default=None, help="numpy, torch, cupy, jax, array_api_strict (default: REFSDE_BACKEND or numpy)")
    val.add_argument("--dtype", default=None, choices=["float32", "float64"], help="default float dtype")
    val.add_argument("--device", default=None, help="device of the backend, e.g. cuda:0")
    val.add_argument("--only", default=None, help="run only checks whose name contains this text")
    val.add_argument("--seed", type=int, default=0, help="seed of the statistical checks")
    val.add_argument("--impl", default=None, metavar="MODULE:OBJECT",
                     help="check this implementation (attributes sde_fn, marginal_fn, prior_sample_fn/prior_logp_fn, "
                     "sde_sampler, ode_sampler, corrector, dsm_loss, log_likelihood and a 'reference' SDE)")
    val.add_argument("--report", default=None, metavar="FILE.md", help="write a markdown report of the run")
    val.add_argument("--plots", default=None, metavar="DIR",
                     help="write figures (QQ plots, std(t), convergence orders, likelihood errors) to DIR")
    val.add_argument("--bench", action="store_true", help="run the benchmarks instead of the checks")
    val.add_argument("--quick", action="store_true", help="with --bench: small sizes and few repeats")
    val.add_argument("--out", default=None, metavar="DIR", help="with --bench: where BENCH.md goes (default backends/<name>)")
    val.add_argument("--sections", default=None, metavar="IDS",
                     help="with --bench: comma-separated section ids (1,2,2b,3,4,5,6,7,8): run only those and splice "
                     "them into the existing BENCH.md")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "validate":
        if args.bench:
            from refsde_validation.bench.run import run_bench

            sections = None if args.sections is None else [x.strip() for x in args.sections.split(",") if x.strip()]
            return run_bench(args.backend, args.quick, args.out, sections)
        from refsde_validation.checks.runner import run_cli

        return run_cli(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
