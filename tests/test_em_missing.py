"""EM with missing entries (missing='marginalise', Ghahramani & Jordan 1994): oracles, monotonicity, recovery, rules.

Tests that take the `device` fixture run the engine on MLENB_TEST_DEVICE (cpu unless set)."""
import math, warnings

import numpy as np
import pytest
import torch

from mlenb.em import GaussianMixture, MonotonicityWarning, COVARIANCE_TYPES

pytestmark = [pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning'),
              pytest.mark.filterwarnings('error::mlenb.em.MonotonicityWarning')]
K = 3
f64 = dict(dtype=torch.float64, progress=False)
CENTRES = torch.tensor([[0., 0., 0.], [6., 1., 0.], [2., 6., 3.]], dtype=torch.float64)

def blobs(n, seed=0):
    "Three well-separated, correlated 3-D blobs in equal shares, and their labels."
    g = torch.Generator().manual_seed(seed)
    z = torch.arange(n) % K
    A = torch.tensor([[1., .5, .2], [0., .8, .3], [0., 0., .6]], dtype=torch.float64)
    return CENTRES[z] + torch.randn(n, 3, generator=g, dtype=torch.float64) @ A, z

def remove(X, frac, seed=0):
    "A copy of X with each entry missing (NaN) with probability `frac`, completely at random."
    g = torch.Generator().manual_seed(seed)
    Xn = X.clone()
    Xn[torch.rand(X.shape, generator=g, dtype=torch.float64) < frac] = math.nan
    return Xn

@pytest.fixture(scope='module')
def data():
    X, _ = blobs(300)
    Xn = remove(X, 0.25, seed=1)
    Xn[5] = math.nan                          # a row with nothing observed
    return X, Xn

def dense_covariances(gm):
    "(K, d, d) covariances whatever the covariance type."
    c, d = gm.covariances_.cpu(), gm.n_features_in_
    return {'full': lambda: c, 'tied': lambda: c.expand(K, d, d), 'diag': lambda: torch.diag_embed(c),
            'spherical': lambda: c[:, None, None] * torch.eye(d, dtype=c.dtype)}[gm.covariance_type]()

def oracle_logits(gm, X):
    "log(pi_k N(x_o | mu_k,o, Sigma_k,oo)) row by row with torch.distributions; log pi_k where nothing is observed: (n, K)."
    cov, mu, logw = dense_covariances(gm), gm.means_.cpu(), gm.weights_.cpu().log()
    out = []
    for x in X:
        o = (~x.isnan()).nonzero()[:, 0]
        if len(o) == 0: out.append(logw); continue
        out.append(torch.stack([torch.distributions.MultivariateNormal(mu[k, o], cov[k][o][:, o]).log_prob(x[o]) for k in range(K)]) + logw)
    return torch.stack(out)

def same(a, b, atol):
    "Equal to `atol`, wherever they live, compared in float64."
    f = lambda t: t.cpu().to(torch.float64) if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=torch.float64)
    torch.testing.assert_close(f(a), f(b), atol=atol, rtol=0)

def sort_by_first(gm):
    "Components in the order of their means' first coordinate."
    return gm.means_[:, 0].argsort()

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_without_nan_equals_the_ordinary_fit(ct, device):
    "With no NaN in the data the mode changes nothing: the same trace and parameters, exactly."
    X, _ = blobs(200)
    a = GaussianMixture(K, covariance_type=ct, random_state=0, n_init=2, device=device, **f64).fit(X)
    b = GaussianMixture(K, covariance_type=ct, random_state=0, n_init=2, device=device, missing='marginalise', **f64).fit(X)
    assert torch.equal(a.trace.series('loglik'), b.trace.series('loglik'))
    for k in ('weights_', 'means_', 'covariances_', 'precisions_cholesky_'): assert torch.equal(getattr(a, k), getattr(b, k))

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_loglik_equals_brute_force(data, ct, device):
    "score_samples, predict_proba and the E-step's log-likelihood equal torch.distributions on each row's observed entries, to 1e-10."
    _, Xn = data
    gm = GaussianMixture(K, covariance_type=ct, random_state=0, tol=0, max_iter=4, device=device, missing='marginalise', **f64).fit(Xn)
    ref = oracle_logits(gm, Xn)
    same(gm.score_samples(Xn), ref.logsumexp(1), 1e-10)
    same(gm.predict_proba(Xn), ref.softmax(1), 1e-10)
    kept = ~Xn.isnan().all(1)
    same(gm.trace.last.loglik, ref[kept].logsumexp(1).mean(), 1e-10)   # the fit's mean runs over rows with something observed
    same(gm.score_samples(Xn)[5], 0., 1e-12)                          # nothing observed: density 1
    same(gm.predict_proba(Xn)[5], gm.weights_, 1e-15)                   # ... and the posterior is the prior

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_em_is_monotone(data, ct, device):
    "With reg_covar=0 the observed-data log-likelihood never falls (and no MonotonicityWarning)."
    _, Xn = data
    gm = GaussianMixture(K, covariance_type=ct, reg_covar=0., init_params='random', tol=0, max_iter=40, random_state=0,
                         device=device, missing='marginalise', **f64).fit(Xn)
    ll = gm.trace.series('loglik')
    assert (ll.diff() > -1e-12 * (1 + ll.abs()[1:])).all()
    assert ll[-1] > ll[0] + 0.1

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_twenty_percent_missing_recovers_the_full_data_fit(ct, device):
    """20% of entries removed at random from 3,000 points: the fit stays close to the fit on the full data.

    Measured differences are about 0.04 for means, 0.01 for weights and 0.05 for covariances (the data's
    scale is 1); the tolerances are twice that, and the means also agree with the true centres to 0.15."""
    X, _ = blobs(3000)
    Xn = remove(X, 0.2, seed=2)
    full = GaussianMixture(K, covariance_type=ct, random_state=0, device=device, **f64).fit(X)
    mis = GaussianMixture(K, covariance_type=ct, random_state=0, device=device, missing='marginalise', **f64).fit(Xn)
    a, b = sort_by_first(full), sort_by_first(mis)
    same(mis.means_[b], full.means_[a], 0.1); same(mis.weights_[b], full.weights_[a], 0.02)
    same(mis.covariances_ if ct == 'tied' else mis.covariances_[b], full.covariances_ if ct == 'tied' else full.covariances_[a], 0.1)
    same(mis.means_[b], CENTRES[CENTRES[:, 0].argsort()], 0.15)

def test_better_than_dropping_rows_or_imputing_means(device):
    """Entries missing at random but not completely at random: the second coordinate goes missing far more
    often when the first is large (60% against 5%). Dropping incomplete rows then starves the component at
    (5, 0) (its weight falls from 1/3 to about 0.18); filling in the column mean drags its mean by about 1.2.
    Marginalising recovers weights to 0.01 and means to 0.1, and scores held-out complete data as well as
    the full-data fit."""
    g = torch.Generator().manual_seed(0)
    C = torch.tensor([[0., 0.], [5., 0.], [0., 5.]], dtype=torch.float64)
    def draw(n):
        return C[torch.arange(n) % 3] + torch.randn(n, 2, generator=g, dtype=torch.float64) @ torch.tensor([[1., .4], [0., .8]], dtype=torch.float64)
    X, Xt = draw(3000), draw(3000)
    Xn = X.clone()
    Xn[torch.rand(3000, generator=g, dtype=torch.float64) < torch.where(X[:, 0] > 2.5, 0.6, 0.05), 1] = math.nan
    kw = dict(random_state=0, device=device, **f64)
    fits = dict(full=GaussianMixture(K, **kw).fit(X), marginalise=GaussianMixture(K, missing='marginalise', **kw).fit(Xn),
                complete_rows=GaussianMixture(K, **kw).fit(Xn[~Xn.isnan().any(1)]),
                mean_imputed=GaussianMixture(K, **kw).fit(torch.where(Xn.isnan(), torch.nanmean(Xn, 0), Xn)))
    truth = C[(C[:, 0] * 10 + C[:, 1]).argsort()]
    def errors(m):
        o = (m.means_[:, 0] * 10 + m.means_[:, 1]).argsort().cpu()
        return float((m.weights_.cpu()[o] - 1 / 3).abs().max()), float((m.means_.cpu()[o] - truth).abs().max()), m.score(Xt)
    e = {k: errors(m) for k, m in fits.items()}
    assert e['marginalise'][0] < 0.01 and e['marginalise'][1] < 0.1
    assert e['complete_rows'][0] > 0.1 and e['mean_imputed'][1] > 0.8
    assert e['marginalise'][2] > max(e['complete_rows'][2], e['mean_imputed'][2]) + 0.05
    assert abs(e['marginalise'][2] - e['full'][2]) < 0.005

def test_rows_with_nothing_observed_are_left_out(data, device):
    "Adding rows with every entry missing changes nothing: they carry no information and count in neither rows nor weight."
    _, Xn = data
    more = torch.cat([Xn, torch.full((7, 3), math.nan, dtype=torch.float64)])
    kw = dict(random_state=0, tol=0, max_iter=5, device=device, missing='marginalise', **f64)
    a, b = GaussianMixture(K, **kw).fit(Xn), GaussianMixture(K, **kw).fit(more)
    same(b.trace.series('loglik'), a.trace.series('loglik'), 1e-12); same(b.covariances_, a.covariances_, 1e-12)
    same(b.score_samples(more)[-7:], torch.zeros(7, dtype=torch.float64), 1e-12)
    assert b.trace.last.resp.shape == (len(more), K)

@pytest.mark.parametrize('weighted', [False, True])
def test_score_bic_aic_count_only_rows_with_something_observed(data, weighted, device):
    """n in score, bic and aic is the number (total weight) of rows with an observed entry: a row with nothing observed
    adds 0 to the log-likelihood and nothing to n, so appending such rows changes none of them, and score on the
    training data is the fit's own mean log-likelihood."""
    _, Xn = data
    gm = GaussianMixture(K, random_state=0, max_iter=5, device=device, missing='marginalise', **f64).fit(Xn)
    more = torch.cat([Xn, torch.full((40, 3), math.nan, dtype=torch.float64)])
    w = torch.randint(1, 4, (len(Xn),), generator=torch.Generator().manual_seed(0)).to(torch.float64) if weighted else None
    wm = None if w is None else torch.cat([w, torch.full((40,), 5., dtype=torch.float64)])
    for f in ('score', 'bic', 'aic'): same(getattr(gm, f)(more, sample_weight=wm), getattr(gm, f)(Xn, sample_weight=w), 1e-8)
    same(gm.score_samples(more)[-40:], torch.zeros(40), 1e-12)
    kept = ~Xn.isnan().all(1)
    ll = oracle_logits(gm, Xn).logsumexp(1)[kept]
    wk = torch.ones(int(kept.sum()), dtype=torch.float64) if w is None else w[kept]
    n_params = K * 6 + K * 3 + K - 1   # full covariances, weights and means, d = 3
    same(gm.bic(Xn, sample_weight=w), -2 * (wk @ ll) + n_params * math.log(float(wk.sum())), 1e-8)
    same(gm.aic(Xn, sample_weight=w), -2 * (wk @ ll) + 2 * n_params, 1e-8)
    if not weighted: same(gm.score(Xn), gm.trace.last.loglik, 1e-12)
    with pytest.raises(ValueError, match='X: no row has an observed entry'): gm.score(torch.full((2, 3), math.nan, dtype=torch.float64))

def test_batches_and_partial_fit_with_nothing_observed(data, device):
    """Out-of-core EM skips batches with nothing observed (also for initialisation, which reads the first batch that
    has an observed entry); partial_fit refuses such a batch, naming X, and leaves the model as it was."""
    _, Xn = data
    kw = dict(random_state=0, tol=0, max_iter=5, device=device, missing='marginalise', **f64)
    empty = torch.full((6, 3), math.nan, dtype=torch.float64)
    a = GaussianMixture(K, **kw).fit([Xn[:150], Xn[150:]])
    b = GaussianMixture(K, **kw).fit([empty, Xn[:150], empty, Xn[150:]])
    same(b.trace.series('loglik'), a.trace.series('loglik'), 1e-12); same(b.means_, a.means_, 1e-12)
    on = GaussianMixture(K, **kw).partial_fit(Xn[:150])
    before = on.state_dict()
    with pytest.raises(ValueError, match='X: no row of this batch has an observed entry'): on.partial_fit(empty)
    for k, v in on.state_dict().items():
        if isinstance(v, torch.Tensor): assert torch.equal(v, before[k]), k
    on.partial_fit(Xn[150:])
    assert torch.isfinite(on.means_).all() and on.n_iter_ == 2

def test_refusals(device):
    "NaN is refused by default with the option named; unusable data in the mode are refused, each with the rule."
    X, _ = blobs(30)
    Xn = remove(X, 0.3)
    with pytest.raises(ValueError, match=r"X: contains NaN at index .*pass missing='marginalise'"): GaussianMixture(K, device=device, **f64).fit(Xn)
    with pytest.raises(ValueError, match=r"batch 1: contains NaN .*missing='marginalise'"): GaussianMixture(K, device=device, **f64).fit([X, Xn])
    gm = GaussianMixture(K, device=device, **f64).fit(X)
    with pytest.raises(ValueError, match="missing='marginalise'"): gm.score_samples(Xn)
    with pytest.raises(ValueError, match="missing='impute'"): GaussianMixture(K, missing='impute')
    mode = dict(device=device, missing='marginalise', **f64)
    Xc = X.clone(); Xc[:, 1] = math.nan
    with pytest.raises(ValueError, match='X: column 1 has no observed entry'): GaussianMixture(K, **mode).fit(Xc)
    Xr = torch.full_like(X, math.nan); Xr[0] = 1.
    with pytest.raises(ValueError, match='X: expected at least 2 rows with an observed entry, got 1'): GaussianMixture(1, **mode).fit(Xr)
    with pytest.raises(ValueError, match='inf'): GaussianMixture(K, **mode).fit(torch.where(Xn.isnan(), math.inf, Xn))

@pytest.mark.parametrize('ct', ['full', 'diag'])
def test_weights_batches_restarts_and_online(data, ct, device):
    "sample_weight (as repeated rows), out-of-core batches, batched restarts, warm starts and partial_fit all take NaN in this mode."
    _, Xn = data
    mode = dict(covariance_type=ct, device=device, missing='marginalise', **f64)
    ref = GaussianMixture(K, random_state=0, **mode).fit(Xn)
    init = dict(weights_init=ref.weights_.cpu().numpy(), means_init=ref.means_.cpu().numpy() + .3, precisions_init=ref.precisions_.cpu().numpy())
    kw = dict(tol=0, max_iter=6, **init, **mode)
    w = torch.randint(0, 3, (len(Xn),), generator=torch.Generator().manual_seed(0))
    fw, fr = GaussianMixture(K, **kw).fit(Xn, sample_weight=w), GaussianMixture(K, **kw).fit(Xn.repeat_interleave(w, 0))
    same(fw.trace.series('loglik'), fr.trace.series('loglik'), 1e-10); same(fw.covariances_, fr.covariances_, 1e-10)
    fb, fm = GaussianMixture(K, **kw).fit([Xn[:100], Xn[100:230], Xn[230:]]), GaussianMixture(K, **kw).fit(Xn)
    same(fb.trace.series('loglik'), fm.trace.series('loglik'), 1e-12); same(fb.means_, fm.means_, 1e-12)
    many = GaussianMixture(K, n_init=4, random_state=1, **mode).fit(Xn)
    assert many.trace.last.logliks.shape == (4,) and many.score(Xn) >= ref.score(Xn) - 1e-6
    warm = GaussianMixture(K, warm_start=True, random_state=0, max_iter=3, **mode)
    warm.fit(Xn); warm.fit(Xn)
    assert warm.score(Xn) >= warm.lower_bounds_[0] - 1e-9
    X, _ = blobs(3000, seed=3)
    on = GaussianMixture(K, random_state=0, **mode)
    for i in range(0, 3000, 100): on.partial_fit(remove(X[i:i + 100], 0.2, seed=i))
    a, b = sort_by_first(on), sort_by_first(ref)
    same(on.means_[a], ref.means_[b], 0.3)
