"""False-alarm rates of the statistical conformance checks, measured on correct candidates.

``python -m refsde_validation.evidence.false_alarms [--seeds 200] [--alphas 0.05,1e-6] [--backend B] [--markdown]``

Every stochastic check of :mod:`refsde.testing` is run on refsde's own (correct) implementation over
``--seeds`` independent seeds (the check's seed *and* the candidate's own randomness change together)
at each level alpha, and the number of FAILs is reported next to the expected count ``seeds * alpha``
and the one-sided binomial probability of seeing at least that many.  A calibrated check (Bonferroni over
its sub-tests, so conservative) has observed <= expected up to binomial noise.  alpha = 0.05 is the
informative level (expected 10 of 200, so a check that is anti-conservative by a factor of 2 shows);
at the default alpha = 1e-6 the expected count is 2e-4 and anything above 0 is a finding.

Checks that have no statistical part (coefficients, marginal, ODE sampler, the deterministic likelihood
mode) are not listed.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import zlib
from typing import Any, Callable

__all__ = ["CASES", "FalseAlarmRow", "binomial_sf", "format_markdown", "run_false_alarms"]


@dataclasses.dataclass
class FalseAlarmRow:
    case: str
    alpha: float
    seeds: int
    failures: int
    seconds: float
    skipped: str = ""

    @property
    def expected(self) -> float:
        return self.seeds * self.alpha

    @property
    def p_value(self) -> float:
        """P(Binomial(seeds, alpha) >= failures): small means more false alarms than alpha allows."""
        return binomial_sf(self.failures, self.seeds, self.alpha)


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (exact; n is small)."""
    if k <= 0:
        return 1.0
    total = 0.0
    for j in range(k, n + 1):
        log_term = math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * math.log(p) + (n - j) * math.log1p(-p)
        total += math.exp(log_term)
    return min(1.0, total)


# A case: (name, run(seed, alpha, backend) -> None; raises ConformanceError on a FAIL; AttributeError when
# the check does not exist in this refsde).
Case = tuple[str, Callable[[int, float, Any], None]]


def _prior_case(kind: str) -> Case:
    def run(seed: int, alpha: float, backend: Any) -> None:
        import refsde
        from refsde import testing as rt

        ref = refsde.VPSDE() if kind == "VP" else refsde.VESDE()
        rng = refsde.make_rng((10_000 if kind == "VP" else 15_000) + seed, backend)  # independent streams per case
        rt.check_prior(lambda shape: ref.prior_sample(shape, rng=rng), ref.prior_logp, ref, alpha=alpha, seed=seed, backend=backend)

    return (f"check_prior[{kind}]", run)


def _sde_sampler_case(kind: str, method: str | None) -> Case:
    def run(seed: int, alpha: float, backend: Any) -> None:
        import refsde
        from refsde import testing as rt
        from refsde.sampling import sample_sde

        ref = refsde.VPSDE() if kind == "VP" else refsde.VESDE()
        rng = refsde.make_rng(20_000 + seed, backend)

        def sampler(score_fn: Any, x_T: Any, n_steps: int) -> Any:
            return sample_sde(score_fn, ref, x_T, n_steps, eps=1e-3, method=method or "euler_maruyama", rng=rng)[0]

        rt.check_sde_sampler(sampler, ref, eps=1e-3, method=method, alpha=alpha, seed=seed, backend=backend)

    return (f"check_sde_sampler[{kind}, method={method}]", run)


def _corrector_case(kind: str) -> Case:
    def run(seed: int, alpha: float, backend: Any) -> None:
        import refsde
        from refsde import testing as rt
        from refsde.sampling import langevin_corrector

        ref = refsde.VPSDE() if kind == "VP" else refsde.VESDE()
        rng = refsde.make_rng(30_000 + seed, backend)
        # snr given: the check also tests the step size against the snr rule (refsde's default snr = 0.16)
        rt.check_corrector(lambda score_fn, x, t: langevin_corrector(score_fn, ref, x, t, snr=0.16, rng=rng)[0], ref, snr=0.16,
                           alpha=alpha, seed=seed, backend=backend)

    return (f"check_corrector[{kind}]", run)


def _dsm_case(weighting: str) -> Case:
    def run(seed: int, alpha: float, backend: Any) -> None:
        import refsde
        from refsde import testing as rt
        from refsde.losses import dsm_loss

        ref = refsde.VPSDE()
        rng = refsde.make_rng(40_000 + seed, backend)
        rt.check_dsm_loss(lambda score_fn, x0: dsm_loss(score_fn, ref, x0, weighting=weighting, rng=rng), ref,
                          weighting=weighting, alpha=alpha, seed=seed, backend=backend)

    return (f"check_dsm_loss[VP, {weighting}]", run)


def _hutchinson_likelihood_case(probe: str) -> Case:
    def run(seed: int, alpha: float, backend: Any) -> None:
        import refsde
        from refsde import testing as rt
        from refsde.likelihood import log_likelihood

        ref = refsde.VPSDE()
        rng = refsde.make_rng(50_000 + seed, backend)

        def loglik(score_fn: Any, x0: Any) -> Any:
            return log_likelihood(score_fn, ref, x0, eps=1e-3, divergence="hutchinson", n_probes=1, probe=probe,
                                  rtol=1e-5, atol=1e-5, rng=rng)[0]

        rt.check_log_likelihood(loglik, ref, eps=1e-3, stochastic=True, alpha=alpha, seed=seed, backend=backend)

    return (f"check_log_likelihood[VP, hutchinson {probe}, stochastic]", run)


def _sde_scheme_case(label: str, method: str, make: Callable[[Any, Any], Callable[..., Any]], *, grid: Any = None,
                     options: dict | None = None, n_steps: int = 100) -> Case:
    """A refsde sampler judged by the exact law of its scheme (``method``), on its own grid where given."""
    def run(seed: int, alpha: float, backend: Any) -> None:
        import refsde
        from refsde import testing as rt

        ref = refsde.VPSDE()
        rng = refsde.make_rng(60_000 + 1_000 * (zlib.crc32(label.encode()) % 97) + seed, backend)
        rt.check_sde_sampler(make(ref, rng), ref, n_steps, eps=1e-3, method=method, grid=grid, options=options,
                             alpha=alpha, seed=seed, backend=backend)

    return (f"check_sde_sampler[VP, method={method}, {label}]", run)


def _quadratic_grid(n: int) -> list[float]:
    return [1.0 - 0.999 * (k / n) ** 2 for k in range(n + 1)]


def _em_on_grid(ref: Any, rng: Any) -> Callable[..., Any]:
    from refsde.sampling import sample_sde

    return lambda score_fn, x_T, n: sample_sde(score_fn, ref, x_T, grid=_quadratic_grid(n), rng=rng)[0]


def _ancestral(ref: Any, rng: Any) -> Callable[..., Any]:
    from refsde.sampling import sample_sde

    return lambda score_fn, x_T, n: sample_sde(score_fn, ref, x_T, n, eps=1e-3, method="ancestral", rng=rng)[0]


def _ddim_eta1(ref: Any, rng: Any) -> Callable[..., Any]:
    from refsde.sampling import sample_ddim

    return lambda score_fn, x_T, n: sample_ddim(score_fn, ref, x_T, n, eps=1e-3, eta=1.0, rng=rng)[0]


def _discrete_loss_case(kind: str) -> Case:
    def run(seed: int, alpha: float, backend: Any) -> None:
        import refsde
        from refsde import testing as rt
        from refsde.losses import ddpm_loss, smld_loss

        ref = refsde.VPSDE() if kind == "ddpm" else refsde.VESDE()
        fn = ddpm_loss if kind == "ddpm" else smld_loss
        rng = refsde.make_rng(70_000 + seed, backend)
        check = rt.check_ddpm_loss if kind == "ddpm" else rt.check_smld_loss
        check(lambda model, x0: fn(model, ref, x0, rng=rng), ref, timesteps="time", alpha=alpha, seed=seed,
              backend=backend)

    return (f"check_{kind}_loss[{'VP' if kind == 'ddpm' else 'VE'}]", run)


CASES: list[Case] = [
    _prior_case("VP"),
    _prior_case("VE"),
    _sde_sampler_case("VP", None),
    _sde_sampler_case("VP", "euler_maruyama"),
    _sde_sampler_case("VE", "reverse_diffusion"),
    _corrector_case("VP"),
    _corrector_case("VE"),
    _dsm_case("sigma2"),
    _dsm_case("likelihood"),
    _hutchinson_likelihood_case("rademacher"),
    _sde_scheme_case("own quadratic grid", "euler_maruyama", _em_on_grid, grid=_quadratic_grid),
    _sde_scheme_case("refsde levels", "ancestral", _ancestral),
    _sde_scheme_case("eta 1", "ddim", _ddim_eta1, n_steps=50),
    _discrete_loss_case("ddpm"),
    _discrete_loss_case("smld"),
]
# the cases whose checks changed since the 2026-11-23 study (sampler laws and ladders, the two-stage likelihood test,
# the discrete losses): ``--only check_sde_sampler,check_log_likelihood,check_ddpm_loss,check_smld_loss`` reruns them


def run_false_alarms(seeds: int = 200, alphas: tuple[float, ...] = (0.05, 1e-6), backend: Any = None,
                     cases: list[Case] | None = None, stream: Any = None) -> list[FalseAlarmRow]:
    """Run every case ``seeds`` times per alpha; a case whose check is missing is a skipped row."""
    import refsde
    from refsde.testing import ConformanceError

    be = refsde.get_backend(backend)
    rows = []
    with refsde.use_backend(be):
        for name, run in CASES if cases is None else cases:
            for alpha in alphas:
                start, failures, skipped = time.perf_counter(), 0, ""
                for seed in range(seeds):
                    try:
                        run(seed, alpha, be)
                    except ConformanceError:
                        failures += 1
                    except (AttributeError, ImportError) as exc:
                        skipped = f"{type(exc).__name__}: {exc}"
                        break
                row = FalseAlarmRow(name, alpha, seeds, failures, time.perf_counter() - start, skipped)
                rows.append(row)
                if stream is not None:
                    print(_line(row), file=stream, flush=True)
    return rows


def _line(r: FalseAlarmRow) -> str:
    if r.skipped:
        return f"| {r.case} | {r.alpha:g} | - | - | - | - | skipped: {r.skipped} |"
    return (f"| {r.case} | {r.alpha:g} | {r.seeds} | {r.failures} | {r.expected:.3g} | {r.p_value:.3g} | "
            f"{r.seconds / r.seeds:.2f} s/run |")


def format_markdown(rows: list[FalseAlarmRow]) -> str:
    head = ["| check (correct candidate) | alpha | seeds | false alarms | expected | P(>= observed) | time |",
            "|---|---:|---:|---:|---:|---:|---|"]
    return "\n".join(head + [_line(r) for r in rows])


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m refsde_validation.evidence.false_alarms",
                                description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=200)
    p.add_argument("--alphas", default="0.05,1e-6")
    p.add_argument("--backend", default=None)
    p.add_argument("--only", default=None, help="run only cases whose name contains one of these comma-separated texts")
    args = p.parse_args(argv)
    wanted = [w for w in (args.only or "").split(",") if w]
    cases = [c for c in CASES if not wanted or any(w in c[0] for w in wanted)]
    print(format_markdown([]), flush=True)
    rows = run_false_alarms(args.seeds, tuple(float(a) for a in args.alphas.split(",")), args.backend, cases, stream=sys.stdout)
    # exit 1 when a check raises clearly more false alarms than its alpha allows (P < 1e-3)
    return 1 if any(not r.skipped and r.p_value < 1e-3 for r in rows) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
