"""Small statistics without SciPy: Student-t and normal quantiles, and the summary of a
weighted sample of scenario costs (mean with its confidence interval, std, CVaR)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def t_cdf(x: float, dof: int) -> float:
    """P(T <= x) for Student's t with an integer number of degrees of freedom, in closed
    form (Abramowitz and Stegun 26.7.3 and 26.7.4)."""
    if dof < 1:
        raise ValueError("degrees of freedom must be >= 1")
    theta = math.atan(abs(x) / math.sqrt(dof))
    c, s = math.cos(theta), math.sin(theta)
    if dof % 2:  # odd: A = 2/pi (theta + sin(theta) (cos + 2/3 cos^3 + ...))
        term, total = c, 0.0
        for k in range(1, (dof - 1) // 2 + 1):
            if k > 1:
                term *= c * c * (2 * k - 2) / (2 * k - 1)
            total += term
        a = 2.0 / math.pi * (theta + s * total)
    else:  # even: A = sin(theta) (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
        term, total = 1.0, 1.0
        for k in range(1, dof // 2):
            term *= c * c * (2 * k - 1) / (2 * k)
            total += term
        a = s * total
    return 0.5 + math.copysign(0.5 * a, x)


def t_quantile(p: float, dof: int) -> float:
    """The p-quantile of Student's t with ``dof`` degrees of freedom (bisection)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if p < 0.5:
        return -t_quantile(1.0 - p, dof)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, dof) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def z_quantile(p: float) -> float:
    return NormalDist().inv_cdf(p)


def effective_size(weights: np.ndarray, draws: int | None) -> float:
    """The number of independent draws behind weighted values: ``draws`` when the
    weights are frequencies of that many i.i.d. draws, else Kish's 1 / sum w^2."""
    w = np.asarray(weights, float) / np.sum(weights)
    return float(draws) if draws else float(1.0 / (w @ w))


def mean_ci(values: np.ndarray, weights: np.ndarray, draws: int | None = None,
            confidence: float = 0.95) -> dict:
    """Weighted mean, standard deviation and two-sided t confidence interval.

    With n = effective_size(weights, draws): std^2 = n / (n - 1) sum w (x - mean)^2,
    half-width = t_{(1 + confidence) / 2, n - 1} std / sqrt(n), n rounded down to whole
    draws. For equal weights this is the textbook interval on the sample mean."""
    v = np.asarray(values, float)
    w = np.asarray(weights, float) / np.sum(weights)
    mean = float(w @ v)
    n = effective_size(w, draws)
    whole = max(1, int(math.floor(n + 1e-9)))
    if whole < 2:
        return {"mean_musd": mean, "std_musd": 0.0, "ci95_musd": [mean, mean],
                "n_effective": n, "ci_method": "none: fewer than two draws"}
    std = math.sqrt(max(0.0, float(w @ (v - mean) ** 2)) * n / (n - 1.0))
    half = t_quantile(0.5 + confidence / 2, whole - 1) * std / math.sqrt(n)
    return {"mean_musd": mean, "std_musd": std, "ci95_musd": [mean - half, mean + half],
            "n_effective": n, "ci_method": f"Student t, {whole - 1} degrees of freedom"}
