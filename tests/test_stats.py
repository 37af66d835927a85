"""foodlib.stats against independent computations and simulations."""
import numpy as np
import pytest
from scipy import stats as scipy_stats

from foodlib import stats


@pytest.mark.parametrize("b,c", [(0, 0), (0, 1), (1, 0), (3, 3), (5, 12), (12, 5), (40, 20), (0, 30), (250, 310)])
def test_mcnemar_agrees_with_the_doubled_binomial_tail(b, c):
    # The closed form the project used before scipy.stats.binomtest: min(1, 2 P(X <= min(b, c))), X ~ Bin(b+c, 1/2).
    expected = 1.0 if b + c == 0 else min(1.0, 2 * scipy_stats.binom.cdf(min(b, c), b + c, 0.5))
    assert stats.mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_ignores_concordant_images_and_is_symmetric():
    assert stats.mcnemar_exact(7, 19) == stats.mcnemar_exact(19, 7)
    assert stats.mcnemar_exact(10, 10) == 1.0
    assert stats.mcnemar_exact(0, 10) == pytest.approx(2 * 0.5**10)


def _wilson_by_roots(k, n, z):
    """The Wilson interval as the two roots of (k/n - p)^2 = z^2 p (1 - p) / n."""
    phat = k / n
    roots = np.roots([1 + z * z / n, -(2 * phat + z * z / n), phat * phat])
    return tuple(sorted(float(np.real(r)) for r in roots))


def _wilson_closed_form(k, n, z):
    """The textbook formula: (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (88, 100), (22_220, 25_250)])
def test_wilson_interval_matches_quadratic_roots_and_the_closed_form(k, n):
    z = scipy_stats.norm.ppf(0.975)
    lo, hi = stats.wilson_interval(k, n)
    rlo, rhi = _wilson_by_roots(k, n, z)
    assert lo == pytest.approx(max(0.0, rlo), abs=1e-9) and hi == pytest.approx(min(1.0, rhi), abs=1e-9)
    clo, chi = _wilson_closed_form(k, n, z)
    assert lo == pytest.approx(clo, abs=1e-12) and hi == pytest.approx(chi, abs=1e-12)
    assert lo <= k / n <= hi


def test_wilson_interval_covers_the_truth_about_95_percent():
    rng = np.random.default_rng(0)
    for p, n in [(0.5, 60), (0.88, 200), (0.97, 400)]:
        ks = rng.binomial(n, p, size=2000)
        covered = np.mean([lo <= p <= hi for lo, hi in (stats.wilson_interval(int(k), n) for k in ks)])
        assert 0.93 <= covered <= 0.975, (p, n, covered)
    assert np.isnan(stats.wilson_interval(0, 0)[0])


def test_holm_by_hand():
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> kept monotone: 0.06
    assert stats.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.02, 0.01]).tolist() == pytest.approx([0.02, 0.02])
    assert stats.holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])


def _paired_correct(rng, n, p_a, p_b, rho_shared=0.6):
    """(n, 2) correctness with true accuracies p_a, p_b and correlated errors (a shared uniform)."""
    shared = rng.random(n)
    own = rng.random((n, 2))
    u = np.where(rng.random((n, 1)) < rho_shared, shared[:, None], own)  # each model reuses the shared draw often
    return u < np.array([p_a, p_b])


def test_bootstrap_interval_of_a_difference_covers_the_truth():
    rng = np.random.default_rng(1)
    p_a, p_b, hits, sims = 0.8, 0.72, 0, 200
    for s in range(sims):
        correct = _paired_correct(rng, 400, p_a, p_b)
        boot = stats.bootstrap_accuracy(correct, num_samples=400, seed=s)
        lo, hi = stats.percentile_interval(boot[:, 0] - boot[:, 1])
        hits += lo <= p_a - p_b <= hi
    assert 0.89 <= hits / sims <= 0.99


def test_bootstrap_is_paired_seeded_and_has_the_analytic_spread():
    rng = np.random.default_rng(2)
    correct = _paired_correct(rng, 1000, 0.85, 0.8)
    boot = stats.bootstrap_accuracy(correct, num_samples=3000, seed=0)
    assert boot.shape == (3000, 2)
    assert np.array_equal(boot, stats.bootstrap_accuracy(correct, num_samples=3000, seed=0))
    d = correct[:, 0].astype(float) - correct[:, 1]
    analytic_sd = d.std() / np.sqrt(len(d))  # sd of a mean of n paired differences
    assert (boot[:, 0] - boot[:, 1]).std() == pytest.approx(analytic_sd, rel=0.1)
    # Paired: two identical models differ by exactly 0 on every resample.
    same = stats.bootstrap_accuracy(np.repeat(correct[:, :1], 2, axis=1), num_samples=200, seed=0)
    assert np.all(same[:, 0] == same[:, 1])


def test_calibration_bins_and_ece_by_hand():
    conf = np.array([0.05, 0.15, 0.45, 0.75, 0.95, 0.92])
    correct = np.array([0, 1, 0, 1, 1, 1], dtype=bool)
    bins = stats.calibration_bins(conf, correct, num_bins=5)  # (0, .2], (.2, .4], (.4, .6], (.6, .8], (.8, 1]
    assert bins["count"].tolist() == [2, 0, 1, 1, 2]
    assert bins.loc[0, "confidence"] == pytest.approx(0.10) and bins.loc[0, "accuracy"] == pytest.approx(0.5)
    assert bins.loc[4, "confidence"] == pytest.approx(0.935) and bins.loc[4, "accuracy"] == pytest.approx(1.0)
    assert np.isnan(bins.loc[1, "accuracy"])
    # ECE = 2/6 |0.5 - 0.10| + 1/6 |0 - 0.45| + 1/6 |1 - 0.75| + 2/6 |1 - 0.935|
    expected = (2 * 0.4 + 0.45 + 0.25 + 2 * 0.065) / 6
    assert stats.expected_calibration_error(conf, correct, num_bins=5) == pytest.approx(expected)


def test_ece_matches_a_loop_and_is_small_when_calibrated():
    rng = np.random.default_rng(3)
    conf = rng.uniform(0.1, 1.0, size=20_000)
    correct = rng.random(20_000) < conf  # right with exactly the stated probability
    ece = 0.0
    for lo in np.arange(15) / 15:
        inside = (conf > lo) & (conf <= lo + 1 / 15)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    assert stats.expected_calibration_error(conf, correct) == pytest.approx(ece)
    assert ece < 0.02
    overconfident = rng.random(20_000) < conf - 0.1
    assert stats.expected_calibration_error(conf, overconfident) == pytest.approx(0.1, abs=0.02)
