"""Mutation testing of :mod:`refsde.testing`: single-bug implementations that the checks must catch.

Each :class:`Mutant` is a user-style implementation (the ``--impl`` attribute layout of
:mod:`refsde_validation.checks.user_impl`) written independently of refsde's own code, correct except for one
bug of the kind people make: a wrong factor, g instead of g^2, a sign, a wrong prior, a float32
cancellation, ...  ``intended`` names the check that must catch it.  :func:`run_mutants` runs every
check on every mutant and records which ones fail; a mutant is *caught* when its intended check fails.
The companion :data:`CONTROLS` are the same implementations without the bug: every check must pass
them, so a catch is not a check that fails everything.

The SDE / marginal / prior mutants are below; the machinery ones (reverse-SDE and PF-ODE samplers, Langevin
corrector, DSM loss, log-likelihood) are in :mod:`refsde_validation.evidence.machinery_mutants`, loaded into
``MUTANTS`` and ``CONTROLS`` at import.  A check *catches* a mutant when it raises ConformanceError (the
checks are called directly with the ``--impl`` attributes and ``check_options``).

All candidates use the caller's array namespace (array-api-compat), so the catalogue runs on every
backend.  ``python -m refsde_validation.evidence.mutants [--backend B] [--markdown]`` prints the table.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from types import SimpleNamespace
from typing import Any, Callable

from array_api_compat import array_namespace

from .mutant_base import B0, B1, S0, S1, VE_PRIOR_STD, Mutant
from .mutant_base import ref_sde as _ref

__all__ = ["CONTROLS", "EXPECTED_CAUSES", "MUTANTS", "Mutant", "MutantResult", "extend", "format_confusion",
           "format_markdown", "run_controls", "run_mutants"]


@dataclasses.dataclass
class MutantResult:
    mutant: Mutant
    failed_checks: tuple[str, ...]  # refsde.testing checks that raised ConformanceError
    errored_checks: tuple[str, ...]  # checks that raised something else (a bug of the harness or candidate)
    message: str  # first line(s) of the intended check's ConformanceError
    skipped: str = ""  # why the intended check could not run (not available in this refsde)
    cause: str = ""  # the intended check's named cause ("likely cause: ..." / "no known slip ...")
    prop: str = ""  # the property the intended check reported

    @property
    def caught(self) -> bool:
        return self.mutant.intended in self.failed_checks

    @property
    def diagnosis(self) -> str:
        """"itself", "itself (indistinguishable from ...)", "no slip named (none in the catalogue)", "property", or
        "WRONG: ..." (a named cause that is not the mutant's own)."""
        expected = EXPECTED_CAUSES.get(self.mutant.name, "")
        if expected is None:
            return "no slip named (none in the catalogue)" if not self.cause.startswith("likely") else \
                f"named {self.cause.split(': ', 1)[1].split(' (')[0]!r} (not in the catalogue's list)"
        if expected.startswith("property:"):
            return "by its property" if self.prop == expected.split(":", 1)[1].strip() else f"WRONG: property {self.prop!r}"
        named = self.cause.split(" under the reference")[0] if self.cause.startswith("likely") else ""
        if expected in named:
            return "itself (indistinguishable from another slip here)" if "indistinguishable" in named else "itself"
        return f"WRONG: {self.cause[:120]}"


# the fragment of the cause each mutant must be diagnosed as (refsde.testing._causes and the checks' slip tables);
# "property: P" where the failing property is the diagnosis; None where the catalogue has no slip for the bug
EXPECTED_CAUSES: dict[str, str | None] = {
    "vp_drift_missing_half": "the 1/2 missing in the drift",
    "vp_drift_sign": "the drift's sign flipped",
    "vp_diffusion_is_g2": "g(t)^2 returned as the diffusion",
    "subvp_diffusion_of_vp": "sub-VP diffusion sqrt(beta) (the VP one",
    "ve_diffusion_missing_log_factor": "missing sqrt(2 log",
    "vp_marginal_mean_exponent": "mean exp(-B) x0 instead of",
    "vp_marginal_returns_variance": "the variance sigma_t^2 returned as the std",
    "vp_marginal_drops_beta_min": "beta_min dropped from the schedule",
    "vp_marginal_float32_cancellation": "computed directly: it cancels",
    "subvp_marginal_std_of_vp": "sub-VP std sqrt(1 - exp(-B)) (the VP one)",
    "ve_marginal_convention_mixup": "score_sde's convention",
    "ve_prior_standard_normal": "the prior N(0, I) instead of",
    "prior_std_5pct_off": None,  # a 5% std error is no convention: nothing to name
    "prior_logp_missing_constant": "without its constant",
    "prior_logp_mean_over_dims": "averaged over dimensions",
    "ve_prior_logp_sigma_not_squared": "log(2 pi s) instead of log(2 pi s^2)",
    "em_drift_g_not_g2": "g(t) in place of g(t)^2 in the drift's score term",
    "em_dt_sign": "dt with the wrong sign",
    "em_coefficients_right_end": "right end t_{k+1}",
    "em_noise_missing_sqrt_dt": "not scaled by sqrt(h)",
    "em_no_noise_last_step": "the last step without its noise",
    "pf_ode_missing_half": "the 1/2 missing)",
    "heun_second_stage_wrong_time": "second stage evaluated at t_k",
    "langevin_noise_sqrt_e": "sqrt(e) z instead of sqrt(2 e) z",
    "langevin_ignores_score": "the score term missing",
    "dsm_target_sign": "target's sign flipped",
    "dsm_weight_sigma": "lambda = sigma_t instead of sigma_t^2",
    "dsm_t_uniform_0_T": "property: DSM loss: time range",
    "loglik_divergence_sign": "divergence integral with the wrong sign",
    "loglik_missing_2pi": "without its -(d/2) log(2 pi)",
    "loglik_hutchinson_uniform_probes": None,  # a biased estimator: the stochastic test has no slip table
    "loglik_ve_prior_standard_normal": "the prior N(0, I) instead of N(0, prior_std^2 I)",
    "loglik_fd_divergence_float32_cancellation": None,  # a cancellation with no closed form to compare with
    "pf_drift_g_not_g2": "g(t) in place of g(t)^2 in the score term",
    "pf_drift_weight_one": "the reverse-SDE drift f - g^2 s (score weight 1)",
    "reverse_drift_eps_as_score": "a noise prediction eps = -sigma_t s used as the score",
    "ddpm_loss_mean_reduction": "reduction 'mean'",
    "bpd_in_nats": "nats per dimension instead of bits",
}


# --------------------------------------------------------------------------------------------------
# independent closed forms (Song et al. 2021, eqs. 9, 11, 29-33), written here for the candidates
# --------------------------------------------------------------------------------------------------


def _t_like(t: Any, x: Any) -> Any:
    """t of shape (n,) as (n, 1, ..., 1) to broadcast with x."""
    xp = array_namespace(x, t)
    return xp.reshape(t, (-1,) + (1,) * (x.ndim - 1))


def _vp_B(t: Any) -> Any:  # integral of beta: B(t) = beta_min t + (beta_max - beta_min) t^2 / 2
    return B0 * t + 0.5 * (B1 - B0) * t * t


def _vp_beta(t: Any) -> Any:  # beta(t) = beta_min + t (beta_max - beta_min)
    return B0 + (B1 - B0) * t


def _vp_sde(x: Any, t: Any, *, half: float = 0.5, sign: float = -1.0, g_power: float = 0.5) -> tuple[Any, Any]:
    """VP eq. (32): f = -beta x / 2, g = sqrt(beta); knobs for the mutants."""
    xp = array_namespace(x, t)
    beta = _vp_beta(t)
    return sign * half * _t_like(beta, x) * x, beta**g_power if g_power != 0.5 else xp.sqrt(beta)


def _subvp_sde(x: Any, t: Any, *, vp_diffusion: bool = False) -> tuple[Any, Any]:
    """sub-VP eq. (34): f = -beta x / 2, g^2 = beta (1 - exp(-2 B))."""
    xp = array_namespace(x, t)
    beta = _vp_beta(t)
    g2 = beta if vp_diffusion else beta * -xp.expm1(-2.0 * _vp_B(t))
    return -0.5 * _t_like(beta, x) * x, xp.sqrt(g2)


def _ve_sde(x: Any, t: Any, *, log_factor: bool = True) -> tuple[Any, Any]:
    """VE eq. (30): f = 0, g = sigma(t) sqrt(2 log(sigma_max / sigma_min)), sigma(t) = s0 (s1/s0)^t."""
    xp = array_namespace(x, t)
    log_ratio = math.log(S1 / S0)
    sigma = S0 * xp.exp(t * log_ratio)
    g = sigma * math.sqrt(2.0 * log_ratio) if log_factor else sigma
    return xp.zeros_like(x), g


def _vp_marginal(x0: Any, t: Any, *, mean_exponent: float = 0.5, naive: bool = False, var: bool = False,
                 drop_beta_min: bool = False) -> tuple[Any, Any]:
    """VP eq. (33): mean = exp(-B/2) x0, std = sqrt(1 - exp(-B)) (stable: sqrt(-expm1(-B)))."""
    xp = array_namespace(x0, t)
    B = 0.5 * B1 * t * t if drop_beta_min else _vp_B(t)
    mean = _t_like(xp.exp(-mean_exponent * B), x0) * x0
    v = (1.0 - xp.exp(-B)) if naive else -xp.expm1(-B)
    return mean, (v if var else xp.sqrt(v))


def _subvp_marginal(x0: Any, t: Any, *, vp_std: bool = False) -> tuple[Any, Any]:
    """sub-VP eq. (34): mean = exp(-B/2) x0, std = 1 - exp(-B)."""
    xp = array_namespace(x0, t)
    B = _vp_B(t)
    std = xp.sqrt(-xp.expm1(-B)) if vp_std else -xp.expm1(-B)
    return _t_like(xp.exp(-0.5 * B), x0) * x0, std


def _ve_marginal(x0: Any, t: Any, *, score_sde: bool = False) -> tuple[Any, Any]:
    """VE exact: std = sqrt(sigma(t)^2 - sigma_min^2) = s0 sqrt(expm1(2 t log(s1/s0))); score_sde: sigma(t)."""
    xp = array_namespace(x0, t)
    log_ratio = math.log(S1 / S0)
    std = S0 * xp.exp(t * log_ratio) if score_sde else S0 * xp.sqrt(xp.expm1(2.0 * t * log_ratio))
    return x0, std


def _prior_sampler(std: float, seed: int = 12345) -> Callable[[tuple[int, ...]], Any]:
    import refsde

    def sample(shape: tuple[int, ...]) -> Any:
        be = refsde.get_backend()
        return std * be.rng(seed).normal(shape)

    return sample


def _prior_logp(std: float, *, const: bool = True, reduce: str = "sum", square_sigma: bool = True) -> Callable[[Any], Any]:
    """log N(z; 0, std^2 I) summed over all non-batch dims: -|z|^2 / (2 s^2) - D/2 log(2 pi s^2)."""

    def logp(z: Any) -> Any:
        xp = array_namespace(z)
        flat = xp.reshape(z, (z.shape[0], -1))
        s2 = std * std if square_sigma else std
        terms = -flat * flat / (2.0 * std * std) - (0.5 * math.log(2.0 * math.pi * s2) if const else 0.0)
        return xp.sum(terms, axis=1) if reduce == "sum" else xp.mean(terms, axis=1)

    return logp


# --------------------------------------------------------------------------------------------------
# implementations: the correct ones (controls) and the catalogue of single-bug mutants
# --------------------------------------------------------------------------------------------------
def _impl(kind: str, **attrs: Any) -> Callable[[], SimpleNamespace]:
    return lambda: SimpleNamespace(reference=_ref(kind), **attrs)


CONTROLS: dict[str, Callable[[], SimpleNamespace]] = {
    "vp": _impl("vp", sde_fn=_vp_sde, marginal_fn=_vp_marginal, prior_sample_fn=_prior_sampler(1.0), prior_logp_fn=_prior_logp(1.0)),
    "subvp": _impl("subvp", sde_fn=_subvp_sde, marginal_fn=_subvp_marginal, prior_sample_fn=_prior_sampler(1.0), prior_logp_fn=_prior_logp(1.0)),
    "ve": _impl("ve", sde_fn=_ve_sde, marginal_fn=_ve_marginal, prior_sample_fn=_prior_sampler(VE_PRIOR_STD), prior_logp_fn=_prior_logp(VE_PRIOR_STD)),
    "ve_score_sde": _impl("ve_score_sde", sde_fn=_ve_sde, marginal_fn=lambda x0, t: _ve_marginal(x0, t, score_sde=True),
                          prior_sample_fn=_prior_sampler(S1), prior_logp_fn=_prior_logp(S1)),
    # the stable forms pass in float32 too (the check then allows float32 rounding, not cancellation)
    "vp_float32": _impl("vp", marginal_fn=_vp_marginal, check_options={"marginal_fn": {"dtype": "float32"}}),
}

MUTANTS: list[Mutant] = [
    Mutant("vp_drift_missing_half", "VP drift -beta x instead of -beta x / 2", "check_coefficients",
           _impl("vp", sde_fn=lambda x, t: _vp_sde(x, t, half=1.0))),
    Mutant("vp_drift_sign", "VP drift +beta x / 2 (sign flipped)", "check_coefficients",
           _impl("vp", sde_fn=lambda x, t: _vp_sde(x, t, sign=1.0))),
    Mutant("vp_diffusion_is_g2", "VP diffusion returns g^2 = beta instead of g = sqrt(beta)", "check_coefficients",
           _impl("vp", sde_fn=lambda x, t: _vp_sde(x, t, g_power=1.0))),
    Mutant("subvp_diffusion_of_vp", "sub-VP diffusion sqrt(beta) (the VP one) without the (1 - exp(-2B)) factor", "check_coefficients",
           _impl("subvp", sde_fn=lambda x, t: _subvp_sde(x, t, vp_diffusion=True))),
    Mutant("ve_diffusion_missing_log_factor", "VE g = sigma(t), missing sqrt(2 log(sigma_max / sigma_min))", "check_coefficients",
           _impl("ve", sde_fn=lambda x, t: _ve_sde(x, t, log_factor=False))),
    Mutant("vp_marginal_mean_exponent", "VP marginal mean exp(-B) x0 instead of exp(-B / 2) x0", "check_marginal",
           _impl("vp", marginal_fn=lambda x0, t: _vp_marginal(x0, t, mean_exponent=1.0))),
    Mutant("vp_marginal_returns_variance", "VP marginal returns the variance 1 - exp(-B) as the std", "check_marginal",
           _impl("vp", marginal_fn=lambda x0, t: _vp_marginal(x0, t, var=True))),
    Mutant("vp_marginal_drops_beta_min", "VP marginal with beta_min dropped from the schedule: B = beta_max t^2 / 2",
           "check_marginal",
           _impl("vp", marginal_fn=lambda x0, t: _vp_marginal(x0, t, drop_beta_min=True))),
    Mutant("vp_marginal_float32_cancellation", "VP std sqrt(1 - exp(-B)) in float32 (100% off near t = 0; the check runs in float32)",
           "check_marginal", _impl("vp", marginal_fn=lambda x0, t: _vp_marginal(x0, t, naive=True),
                                   check_options={"marginal_fn": {"dtype": "float32"}})),
    Mutant("subvp_marginal_std_of_vp", "sub-VP std sqrt(1 - exp(-B)) (the VP one) instead of 1 - exp(-B)", "check_marginal",
           _impl("subvp", marginal_fn=lambda x0, t: _subvp_marginal(x0, t, vp_std=True))),
    Mutant("ve_marginal_convention_mixup", "VE std sigma(t) (score_sde convention) against the exact sqrt(sigma^2 - sigma_min^2)", "check_marginal",
           _impl("ve", marginal_fn=lambda x0, t: _ve_marginal(x0, t, score_sde=True))),
    Mutant("ve_prior_standard_normal", "VE prior N(0, 1) instead of N(0, sigma_max^2)", "check_prior",
           _impl("ve", prior_sample_fn=_prior_sampler(1.0), prior_logp_fn=_prior_logp(1.0))),
    Mutant("prior_std_5pct_off", "prior samples with std 1.05", "check_prior",
           _impl("vp", prior_sample_fn=_prior_sampler(1.05), prior_logp_fn=_prior_logp(1.0))),
    Mutant("prior_logp_missing_constant", "prior log-density without -D/2 log(2 pi s^2)", "check_prior",
           _impl("vp", prior_sample_fn=_prior_sampler(1.0), prior_logp_fn=_prior_logp(1.0, const=False))),
    Mutant("prior_logp_mean_over_dims", "prior log-density averaged over dims instead of summed", "check_prior",
           _impl("vp", prior_sample_fn=_prior_sampler(1.0), prior_logp_fn=_prior_logp(1.0, reduce="mean"))),
    Mutant("ve_prior_logp_sigma_not_squared", "VE prior log-density with log(2 pi s) instead of log(2 pi s^2)", "check_prior",
           _impl("ve", prior_sample_fn=_prior_sampler(VE_PRIOR_STD), prior_logp_fn=_prior_logp(VE_PRIOR_STD, square_sigma=False))),
]


def extend(mutants: list[Mutant]) -> None:
    """Add mutants (the sampler / loss / likelihood catalogues register here)."""
    names = {m.name for m in MUTANTS}
    for m in mutants:
        if m.name in names:
            raise ValueError(f"duplicate mutant {m.name!r}")
        MUTANTS.append(m)


_CAUSES: dict[str, tuple[str, str]] = {}  # check -> (cause, property) of the last _run_impl's failures


def _run_impl(obj: SimpleNamespace, backend: Any, seed: int) -> dict[str, tuple[str, str]]:
    """{check name: (verdict, message)} for every check of ``obj`` (the ``--impl`` attribute layout).

    The refsde.testing checks are called directly with the attributes and ``check_options`` of
    :mod:`refsde_validation.checks.user_impl`: FAIL means the check raised ConformanceError, ERROR any other exception,
    SKIP a missing attribute or check.  The verdict does not go through ``--impl``'s row statistics (which
    turn a report into statistic / threshold and are tested on their own in tests/test_mutants_machinery.py).
    """
    from refsde import testing as rt

    from ..checks.user_impl import IMPL_ATTRIBUTES

    options_all = getattr(obj, "check_options", None) or {}
    out: dict[str, tuple[str, str]] = {}
    _CAUSES.clear()
    for attrs, check_name in IMPL_ATTRIBUTES:
        check = getattr(rt, check_name, None)
        if check is None or not all(hasattr(obj, a) for a in attrs):
            out[check_name] = ("SKIP", "no such check" if check is None else f"no attribute {' / '.join(attrs)}")
            continue
        kwargs = {"backend": backend, "seed": seed, **dict(options_all.get(attrs[0], {}) or {})}
        try:
            check(*(getattr(obj, a) for a in attrs), obj.reference, **kwargs)
        except rt.ConformanceError as err:
            out[check_name] = ("FAIL", str(err))
            _CAUSES[check_name] = (err.cause, err.property)
        except Exception as exc:  # noqa: BLE001 - a bug of the candidate or the harness, reported as ERROR
            out[check_name] = ("ERROR", f"{type(exc).__name__}: {exc}")
        else:
            out[check_name] = ("PASS", "")
    return out


def run_mutants(backend: Any = None, seed: int = 0, mutants: list[Mutant] | None = None) -> list[MutantResult]:
    """Run every check on every mutant (on ``backend``) and say which checks caught it."""
    import refsde

    be = refsde.get_backend(backend)
    results = []
    with refsde.use_backend(be):
        for m in MUTANTS if mutants is None else mutants:
            rows = _run_impl(m.build(), be, seed)
            failed = tuple(k for k, (v, _) in rows.items() if v == "FAIL")
            errored = tuple(k for k, (v, _) in rows.items() if v == "ERROR")
            verdict, detail = rows.get(m.intended, ("SKIP", "no such check"))
            skipped = detail if verdict == "SKIP" else ""
            cause, prop = _CAUSES.get(m.intended, ("", ""))
            results.append(MutantResult(m, failed, errored, "\n".join(detail.splitlines()[:2]), skipped, cause, prop))
    return results


def run_controls(backend: Any = None, seed: int = 0) -> dict[str, dict[str, tuple[str, str]]]:
    """{control name: {check: (verdict, detail)}}: every check must PASS (or SKIP) on the correct ones."""
    import refsde

    be = refsde.get_backend(backend)
    with refsde.use_backend(be):
        return {name: _run_impl(build(), be, seed) for name, build in CONTROLS.items()}


def format_markdown(results: list[MutantResult]) -> str:
    lines = [
        "| # | mutant | bug | intended check | caught | checks that failed | message (first line) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        caught = "yes" if r.caught else ("skipped: " + r.skipped if r.skipped else "**NO**")
        msg = r.message.splitlines()[0].replace("|", "\\|") if r.message else ""
        lines.append(f"| {i} | `{r.mutant.name}` | {r.mutant.bug} | {r.mutant.intended} | {caught} | "
                     f"{', '.join(r.failed_checks) or '-'} | {msg} |")
    n_caught = sum(r.caught for r in results)
    lines.append("")
    lines.append(f"{n_caught} of {len(results)} mutants caught by their intended check.")
    return "\n".join(lines)


def format_confusion(results: list[MutantResult]) -> str:
    """The diagnosis table: each mutant's intended check, the property that failed and the cause it named."""
    lines = ["| mutant | check | property | named cause | diagnosed as |", "|---|---|---|---|---|"]
    for r in results:
        cause = r.cause.replace("|", "\\|")
        if len(cause) > 160:
            cause = cause[:157] + "..."
        lines.append(f"| `{r.mutant.name}` | {r.mutant.intended} | {r.prop} | {cause} | {r.diagnosis} |")
    own = sum(r.diagnosis.startswith(("itself", "by its property")) for r in results)
    none = sum(r.diagnosis.startswith("no slip named") for r in results)
    wrong = sum(r.diagnosis.startswith(("WRONG", "named")) for r in results)
    lines += ["", f"{own} of {len(results)} mutants diagnosed as themselves, {none} with no slip named (none in the "
              f"catalogue for that bug), {wrong} misdiagnosed."]
    return "\n".join(lines)


def _load_catalogues() -> None:
    """The machinery mutants (samplers, corrector, DSM loss, likelihood) and their controls."""
    from .machinery_mutants import MACHINERY_CONTROLS, MACHINERY_MUTANTS

    extend(MACHINERY_MUTANTS)
    for name, build in MACHINERY_CONTROLS.items():
        if name in CONTROLS:
            raise ValueError(f"duplicate control {name!r}")
        CONTROLS[name] = build


_load_catalogues()


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m refsde_validation.evidence.mutants",
                                description=__doc__.splitlines()[0])
    p.add_argument("--backend", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--confusion", action="store_true", help="print the diagnosis (named cause) table instead")
    args = p.parse_args(argv)
    results = run_mutants(args.backend, args.seed)
    print(format_confusion(results) if args.confusion else format_markdown(results))
    return 0 if all(r.caught for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
