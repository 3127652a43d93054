"""Chi-square checks without scipy: the statistic, and a critical value at a small p."""

from __future__ import annotations

import math
from collections import Counter

Z_ONE_IN_A_THOUSAND = 3.09  # the standard normal's upper 0.1 % point


def critical_value(df: int, z: float = Z_ONE_IN_A_THOUSAND) -> float:
    """The chi-square value exceeded with probability about 0.1 % (Wilson-Hilferty)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def goodness_of_fit(counts: Counter, probs: dict[int, float], draws: int, min_expected: float = 10.0) -> tuple[float, int]:
    """(statistic, degrees of freedom) of ``counts`` against ``probs``; rare cells are pooled."""
    stat, df, pooled_seen, pooled_expected = 0.0, -1, 0, 0.0
    for token, p in probs.items():
        expected = p * draws
        if expected < min_expected:
            pooled_seen, pooled_expected = pooled_seen + counts[token], pooled_expected + expected
            continue
        stat += (counts[token] - expected) ** 2 / expected
        df += 1
    unexpected = sum(n for token, n in counts.items() if token not in probs)
    pooled_seen += unexpected
    if pooled_expected > 0:
        stat += (pooled_seen - pooled_expected) ** 2 / pooled_expected
        df += 1
    elif unexpected:
        return math.inf, max(df, 1)
    return stat, max(df, 1)


def two_sample(a: Counter, b: Counter, min_total: int = 10) -> tuple[float, int]:
    """(statistic, degrees of freedom) for "both samples, of equal size, share a distribution"."""
    stat, df, pooled_a, pooled_b = 0.0, -1, 0, 0
    for key in set(a) | set(b):
        if a[key] + b[key] < min_total:
            pooled_a, pooled_b = pooled_a + a[key], pooled_b + b[key]
            continue
        stat += (a[key] - b[key]) ** 2 / (a[key] + b[key])
        df += 1
    if pooled_a + pooled_b:
        stat += (pooled_a - pooled_b) ** 2 / (pooled_a + pooled_b)
        df += 1
    return stat, max(df, 1)
