"""Hostile input to mlenb.em: far-away points, every kind of array, refused stream batches, overflow and
underflow, degenerate data, memory, seeds, and `blobs`' sizes. Oracles: scikit-learn where it is finite,
exact arithmetic (mpmath at 800 digits, shipped with torch through sympy) everywhere."""
import math, pathlib, subprocess, sys, time, warnings

import mpmath
import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import mlenb.em as em
from mlenb.data import blobs
from mlenb.em import GaussianMixture, CollapseError, ScaleWarning, COVARIANCE_TYPES

pd = pytest.importorskip('pandas')   # a dev requirement; the library itself never imports it
pytestmark = pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning')
EPS64 = torch.finfo(torch.float64).eps
rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(size=(60, 2)) @ [[1., .4], [0., .8]] + c for c in ([0., 0.], [7., 1.], [2., 8.])])
gmm = lambda k=3, **kw: GaussianMixture(k, **{'progress': False, 'random_state': 0, **kw})


# --- points far from the data --------------------------------------------------------------------------------
def factors(gm):
    "Each component's upper factor U_k (P_k = U_k U_k^T), mean and log weight, float64, from the fitted parameters."
    sd, ct = gm.state_dict(), gm.covariance_type
    w, mu, U = (sd[k].double().numpy() for k in ('weights_', 'means_', 'precisions_cholesky_'))
    K, d = mu.shape
    Us = {'full': lambda: U, 'tied': lambda: np.repeat(U[None], K, 0), 'diag': lambda: np.stack([np.diag(u) for u in U]),
          'spherical': lambda: U[:, None, None] * np.eye(d)}[ct]()
    return Us, mu, np.log(w)

def exact(gm, Xq):
    "Exact logits (n, K), mpmath numbers: log w_k + log det U_k - d/2 log 2 pi - |U_k^T (x - mu_k)|^2 / 2."
    Us, mu, logw = factors(gm)
    d, mpf = mu.shape[1], mpmath.mpf
    out = []
    for x in np.asarray(Xq, dtype=np.float64):
        row = []
        for U, m, lw in zip(Us, mu, logw):
            y = [mpmath.fsum(mpf(U[i, j]) * (mpf(x[i]) - mpf(m[i])) for i in range(d)) for j in range(d)]
            logdet = mpmath.fsum(mpmath.log(mpf(U[j, j])) for j in range(d))
            row.append(mpf(lw) + logdet - d * mpmath.log(2 * mpmath.pi) / 2 - mpmath.fsum(v * v for v in y) / 2)
        out.append(row)
    return out

DPS = 800   # digits: enough to keep |mu| against |x| = 1e300 in (x - mu)^2 ~ 1e600, and the logits' gaps

def bound(gm, Xq):
    "Rounding bound (nats, mpmath) of float64 logits per row, for the expanded and the direct form: 8 (d + 2) eps max_k tr(P_k) (|x| + |mu_k|)^2."
    Us, mu, _ = factors(gm)
    trP, mnorm = (Us ** 2).sum((1, 2)), np.linalg.norm(mu, axis=1)
    with mpmath.workdps(DPS):
        out = []
        for x in np.nan_to_num(np.asarray(Xq, dtype=np.float64)):
            xn = mpmath.sqrt(mpmath.fsum(mpmath.mpf(v) ** 2 for v in x))
            out.append(8 * (mu.shape[1] + 2) * EPS64 * max(t * (xn + m) ** 2 for t, m in zip(trP, mnorm)) + mpmath.mpf('1e-12'))
        return out

def exact_summary(gm, Xq):
    "Exact log-likelihoods (floats: -inf below float64's range), responsibilities, best components, and the tolerances that follow."
    with mpmath.workdps(DPS):
        L, tol = exact(gm, Xq), bound(gm, Xq)
        lse = [mpmath.log(mpmath.fsum(mpmath.exp(l) for l in row)) for row in L]
        proba = np.array([[float(mpmath.exp(l - s)) for l in row] for row, s in zip(L, lse)])
        best = np.array([max(range(len(row)), key=lambda k: row[k]) for row in L])
        gap = [sorted(row)[-1] - sorted(row)[-2] for row in L]
        # softmax moves by at most half the logits' error; past a gap of error + 800 nats the answer is one-hot exactly
        patol = np.array([0. if g > t + 800 else float(min(t / 2, 1)) for g, t in zip(gap, tol)])
        return np.array([float(s) for s in lse]), proba, best, np.array([float(t) for t in tol]), patol

DIRS = np.array([[1., 1.], [-1., .3], [.2, -1.], [0., 1.]])
SCALES = [1e4, 1e8, 1e20, 1e100, 1e300]
FAR = np.concatenate([DIRS * s for s in SCALES])

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_far_points_exact(ct, dtype):
    "Far points: the best component under the metric, a proper (one-hot) distribution, log-likelihoods finite while float64 holds them."
    gm = gmm(covariance_type=ct, dtype=dtype).fit(X)
    ll, proba, best, tol, patol = exact_summary(gm, FAR)
    out = torch.finfo(dtype).eps
    assert np.array_equal(gm.predict(FAR), best)
    pr = gm.predict_proba(FAR).astype(np.float64)
    assert (np.abs(pr - proba) <= patol[:, None] + out).all()
    assert np.abs(pr.sum(1) - 1).max() <= 3 * out
    ss, fin = gm._score_samples64(FAR).numpy(), np.isfinite(ll)
    assert fin.tolist() == [s < 1e150 for s in np.repeat(SCALES, len(DIRS))]   # float64 holds -|x|^2 / 2 up to about 1e154
    assert (np.abs(ss[fin] - ll[fin]) <= tol[fin]).all() and (ss[~fin] == -np.inf).all()
    pub = gm.score_samples(FAR)                            # in the model's dtype: the float64 value, rounded (-inf past float32's range)
    assert torch.equal(torch.as_tensor(pub), torch.as_tensor(ss).to(dtype))
    for i in np.nonzero(fin)[0]:
        s = gm.score(FAR[i:i + 1])
        assert math.isfinite(s) and abs(s - ll[i]) <= tol[i] and abs(gm.bic(FAR[i:i + 1]) + 2 * ll[i]) <= 2 * tol[i]
    assert (gm.score(FAR), gm.bic(FAR), gm.aic(FAR)) == (-math.inf, math.inf, math.inf)

def sklearn_twin(gm):
    "scikit-learn's GaussianMixture holding our fitted parameters, float64."
    sd = {k: v.double().numpy() for k, v in gm.state_dict().items()}
    sk = SkGaussianMixture(gm.n_components, covariance_type=gm.covariance_type)
    sk.weights_, sk.means_, sk.covariances_, U = (sd[k] for k in ('weights_', 'means_', 'covariances_', 'precisions_cholesky_'))
    sk.precisions_cholesky_, sk.precisions_ = U, U @ np.swapaxes(U, -1, -2) if gm.covariance_type in ('full', 'tied') else U ** 2
    sk.n_features_in_, sk.converged_, sk.n_iter_, sk.lower_bound_ = sk.means_.shape[1], True, 1, 0.
    return sk

@pytest.mark.parametrize('ct', COVARIANCE_TYPES)
def test_far_points_match_sklearn_where_it_is_finite(ct):
    "Where scikit-learn's float64 answers are finite (to 1e100; tied: to 1e8, past which its direct form loses the means), the same answers."
    gm = gmm(covariance_type=ct, dtype=torch.float64).fit(X)
    sk = sklearn_twin(gm)
    Xq = np.concatenate([DIRS * s for s in SCALES if s <= (1e8 if ct == 'tied' else 1e100)])
    want, (_, _, _, tol, patol) = sk.score_samples(Xq), exact_summary(gm, Xq)
    assert np.isfinite(want).all()
    assert np.array_equal(gm.predict(Xq), sk.predict(Xq))
    assert (np.abs(gm.predict_proba(Xq) - sk.predict_proba(Xq)) <= 2 * patol[:, None] + 2 * EPS64).all()
    assert (np.abs(gm.score_samples(Xq) - want) <= 2 * tol).all()   # both sides' rounding

def test_far_points_tied_decided_by_the_linear_term():
    "Tied covariances at 1e20: equal quadratic terms, x^T P mu_k decides (the direct form, scikit-learn's, loses mu_k to rounding)."
    gm = gmm(covariance_type='tied', dtype=torch.float64).fit(X)
    far = DIRS * 1e20
    best = exact_summary(gm, far)[2]
    assert np.array_equal(gm.predict(far), best)
    assert len(set(best.tolist())) > 1                       # the directions pick different components, not a default one

def test_far_points_with_missing_entries():
    "missing='marginalise': a far row with a missing entry is scored on its observed entry, exactly."
    gm = gmm(dtype=torch.float32, missing='marginalise').fit(X)
    Xq = np.array([[1e20, np.nan], [np.nan, -3e25], [1e300, np.nan]])
    sd, ll = gm.state_dict(), gm._score_samples64(Xq).numpy()
    for i, j in [(0, 0), (1, 1), (2, 0)]:
        var, mu, w = (t.double().numpy() for t in (sd['covariances_'][:, j, j], sd['means_'][:, j], sd['weights_']))
        with mpmath.workdps(DPS):
            x = mpmath.mpf(Xq[i, j])
            want = float(mpmath.log(mpmath.fsum(mpmath.mpf(w[k]) / mpmath.sqrt(2 * mpmath.pi * var[k]) * mpmath.exp(-(x - mu[k]) ** 2 / (2 * var[k]))
                                                 for k in range(3))))
        with np.errstate(over='ignore'): tol = 8 * 3 * EPS64 * (abs(Xq[i, j]) + np.abs(mu).max()) ** 2 / var.min() + 1e-12   # inf: -inf expected
        assert (ll[i] == want == -math.inf) or abs(ll[i] - want) <= tol, (i, ll[i], want)
    pr = gm.predict_proba(Xq)
    assert np.array_equal(pr.sum(1), np.ones(3)) and np.array_equal(pr.max(1), np.ones(3))

def test_near_rows_do_not_change_with_far_company():
    "A far row in the batch changes nothing for the others (they keep the fast path, bitwise)."
    gm = gmm().fit(X)
    Xq = X[::5]
    both = np.concatenate([Xq, [[1e20, 1e20]]])
    assert np.array_equal(gm.predict_proba(both)[:-1], gm.predict_proba(Xq))
    assert np.array_equal(gm.score_samples(both)[:-1], gm.score_samples(Xq))


# --- every kind of array through one path ------------------------------------------------------------------------
KINDS = {'list': lambda A: A.tolist(), 'numpy64': lambda A: A, 'numpy32': lambda A: A.astype(np.float32),
         'tensor64': torch.tensor, 'tensor32': lambda A: torch.tensor(A, dtype=torch.float32), 'DataFrame': pd.DataFrame}

@pytest.mark.parametrize('bad,match', [(np.nan, r'X: contains NaN at index \(1, 0\)'), (np.inf, r'X: contains inf at index \(1, 0\)'),
                                       (-np.inf, r'X: contains inf at index \(1, 0\)')])
def test_every_kind_of_array_gets_the_same_checks(bad, match):
    "Lists, NumPy arrays, tensors and DataFrames: the same refusal, word for word, in fit, predict, score, partial_fit and batches."
    A = X[:6].copy(); A[1, 0] = bad
    fitted = gmm().fit(X)
    for use in (lambda a: gmm().fit(a), fitted.predict, fitted.score_samples, fitted.score, lambda a: gmm(2).partial_fit(a)):
        msgs = set()
        for make in KINDS.values():
            with pytest.raises(ValueError, match=match) as e: use(make(A))
            msgs.add(str(e.value))
        assert len(msgs) == 1, msgs
    for kind, make in KINDS.items():   # nested lists are one array, not batches
        if kind != 'list':
            with pytest.raises(ValueError, match=match.replace('X:', 'batch 1:')): gmm().fit([make(X), make(A)])

@pytest.mark.parametrize('kind', list(KINDS))
def test_every_kind_of_array_fits_the_same(kind):
    "The same fit, bitwise, from each kind of array holding the same numbers."
    A = X.astype(np.float32).astype(np.float64)
    want, got = gmm().fit(A).state_dict(), gmm().fit(KINDS[kind](A)).state_dict()
    for k, v in want.items(): assert torch.equal(got[k], v), k

def test_integers_are_read_as_float64_like_sklearn():
    "Integer arrays, tensors, DataFrames and lists fit exactly as their float64 copy (float32 would round 2**24 + 1)."
    Xi = np.round(X * 1e6).astype(np.int64) + 2 ** 24
    want = gmm(dtype=torch.float64).fit(Xi.astype(np.float64)).state_dict()
    for data in (Xi, torch.tensor(Xi), pd.DataFrame(Xi), Xi.tolist()):
        got = gmm(dtype=torch.float64).fit(data).state_dict()
        for k, v in want.items(): assert torch.equal(got[k], v), (type(data), k)

def test_dataframes_fit_as_in_sklearn():
    "A DataFrame is one data set, not batches of columns: the fit of its array, as in scikit-learn; DataFrames elsewhere too."
    df = pd.DataFrame(X, columns=['a', 'b'])
    me, me_np = gmm(dtype=torch.float64).fit(df), gmm(dtype=torch.float64).fit(X)
    for k, v in me_np.state_dict().items(): assert torch.equal(me.state_dict()[k], v), k
    assert np.array_equal(me.predict(df), me_np.predict(X)) and me.score(df) == me_np.score(X)
    sk, sk_np = SkGaussianMixture(3, random_state=0).fit(df), SkGaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(sk.means_, sk_np.means_)   # scikit-learn: the same fit, DataFrame or array
    fb = gmm(dtype=torch.float64, tol=0, max_iter=3).fit([df.iloc[:90], df.iloc[90:]])   # batches that are DataFrames
    fa = gmm(dtype=torch.float64, tol=0, max_iter=3).fit([X[:90], X[90:]])
    assert np.array_equal(fb.means_, fa.means_)
    assert np.array_equal(gmm(2, dtype=torch.float64).partial_fit(df).means_, gmm(2, dtype=torch.float64).partial_fit(X).means_)

def test_series_and_odd_frames():
    "A Series is 1-D: refused as scikit-learn refuses it, with its advice; NA in a nullable column is NaN; a text column is named."
    with pytest.raises(ValueError, match='single column'): SkGaussianMixture(2).fit(pd.Series(X[:, 0]))
    with pytest.raises(ValueError, match=r'X: expected a 2-D array \(n_samples, n_features\), got a pandas Series of shape \(180,\); pass a DataFrame with a single column'):
        gmm(2).fit(pd.Series(X[:, 0]))
    with pytest.raises(ValueError, match=r'got shape \(180,\); Reshape your data: X.reshape\(-1, 1\) if it holds a single feature'): gmm(2).fit(X[:, 0])
    assert gmm(2).fit(pd.Series(X[:, 0]).to_frame()).means_.shape == (2, 1)   # one feature, as the advice says
    na = pd.DataFrame({'a': pd.array([1, None, 3, 4], dtype='Int64'), 'b': [1., 2., 3., 5.]})
    with pytest.raises(ValueError, match=r'X: contains NaN at index \(1, 0\)'): gmm(2).fit(na)
    assert np.isfinite(gmm(2, missing='marginalise').fit(na).means_).all()
    with pytest.raises(TypeError, match="X: column 'b' has dtype (object|str); expected real numbers"):
        gmm(2).fit(pd.DataFrame({'a': [1., 2., 3.], 'b': ['x', 'y', 'z']}))


# --- overflow, underflow and degenerate data ------------------------------------------------------------------------
def test_overflow_is_named_not_a_collapse():
    "X * 1e20 in float32: the second moments overflow; the message says so and what to do; float64 fits it as it fits X."
    for data in (X * 1e20, torch.tensor(X * 1e20), [X[:90] * 1e20, X[90:] * 1e20]):
        with pytest.raises(ValueError, match=r'second moments overflow torch.float32 .*scale the data .* or pass dtype=torch.float64') as e:
            gmm().fit(data)
        assert 'duplicate' not in str(e.value) and not isinstance(e.value, CollapseError)
    big, ref = gmm(dtype=torch.float64).fit(X * 1e20), gmm(dtype=torch.float64).fit(X)
    assert np.array_equal(big.predict(X * 1e20), ref.predict(X))
    with pytest.raises(ValueError, match='second moments fall below'): gmm().fit(X * 1e-20)

@pytest.mark.parametrize('ct', ['full', 'tied'])
def test_rank_deficient_data_get_subspace_advice(ct):
    "Data on a plane in 3-D with reg_covar=0: a lower-dimensional subspace, rank 2 of 3; raise reg_covar. scikit-learn refuses them too."
    Z = np.c_[X, X[:, 0] - 2 * X[:, 1]]
    with pytest.raises(CollapseError, match=r'the data lie in a lower-dimensional subspace \(their covariance has rank 2 of 3\).*raise reg_covar \(now 0.0') as e:
        gmm(covariance_type=ct, reg_covar=0., dtype=torch.float64).fit(Z)
    assert 'duplicate' not in str(e.value)
    with pytest.raises(ValueError): SkGaussianMixture(3, covariance_type=ct, reg_covar=0., random_state=0).fit(Z)
    assert np.isfinite(gmm(covariance_type=ct, dtype=torch.float64).fit(Z).covariances_).all()   # the default reg_covar copes

def test_constant_feature_named_for_diag():
    Z = np.c_[X, np.full(len(X), 3.)]
    with pytest.raises(CollapseError, match='feature 2 is constant in the data'): gmm(covariance_type='diag', reg_covar=0., dtype=torch.float64).fit(Z)

def test_duplicates_keep_their_advice():
    Xd = np.concatenate([np.zeros((20, 2)), rng.normal(size=(40, 2)) + 5])
    with pytest.raises(CollapseError, match='remove duplicate points'): gmm(2, reg_covar=0., dtype=torch.float64).fit(Xd)

def test_tiny_data_warn_that_reg_covar_dominates():
    "X * 1e-8: scikit-learn and we end at components that coincide (reg_covar exceeds the data's variance); we warn. A scaled reg_covar separates them."
    with pytest.warns(ScaleWarning, match=r"reg_covar=1e-06 is at least the data's variance per feature \(.*\).*scale the data"):
        me = gmm(dtype=torch.float64).fit(X * 1e-8)
    sk = SkGaussianMixture(3, random_state=0).fit(X * 1e-8)
    spread = lambda m: float(np.ptp(np.asarray(m), 0).max())
    assert spread(me.means_) < 1e-11 and spread(sk.means_) < 1e-11   # all three on the data's mean (the blobs are 7e-8 apart)
    with warnings.catch_warnings():
        warnings.simplefilter('error', ScaleWarning)
        ok, ref = gmm(dtype=torch.float64, reg_covar=1e-22).fit(X * 1e-8), gmm(dtype=torch.float64).fit(X)
    assert np.array_equal(ok.predict(X * 1e-8), ref.predict(X)) and spread(ok.means_) > 5e-8


# --- partial_fit: a refused batch changes nothing --------------------------------------------------------------------
def state(gm):
    "Everything partial_fit updates: parameters, summary, online statistics, trace."
    o = gm._online
    return (gm.state_dict(), len(gm.trace), gm._step, list(gm.lower_bounds_), o['t'], o['n_avg'],
            None if o['stats'] is None else o['stats'].table.clone(), None if o['avg'] is None else o['avg'].table.clone())

def same(a, b):
    (da, *ra), (db, *rb) = a, b
    assert da.keys() == db.keys() and all(torch.equal(da[k], db[k]) for k in da)
    for x, y in zip(ra, rb): assert (torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y), (x, y)

def failing_m_step(call:int):
    "gmm_m_step that refuses its call number `call` (0-based) with a collapse."
    calls, real = [0], em.online.gmm_m_step
    def m_step(*a, **kw):
        calls[0] += 1
        if calls[0] == call + 1: raise CollapseError('component 0 collapsed (simulated)')
        return real(*a, **kw)
    return m_step

BAD_BATCHES = {
    'nan': (lambda: np.full((5, 2), np.nan), None, 'contains NaN'),
    'overflow': (lambda: np.full((3, 2), 1e20), None, 'second moments overflow'),
    'features': (lambda: np.zeros((5, 3)), None, 'has 3 features'),
    'weights': (lambda: X[:5], -np.ones(5), 'non-negative'),
    'collapse': (lambda: X[:20], None, 'simulated'),
}

@pytest.mark.parametrize('average', [False, True])
@pytest.mark.parametrize('case', list(BAD_BATCHES))
def test_partial_fit_refused_batch_changes_nothing(case, average, monkeypatch):
    "State before == state after a refused batch; the next good batch gives exactly what it gives without the refused call."
    make, w, match = BAD_BATCHES[case]
    gm, twin = (gmm(average=average).partial_fit(X[::2]).partial_fit(X[1::2]) for _ in range(2))
    before = state(gm)
    with monkeypatch.context() as m:
        if case == 'collapse': m.setattr(em.online, 'gmm_m_step', failing_m_step(1 if average else 0))   # with averaging: its second M-step
        with pytest.raises(ValueError, match=match): gm.partial_fit(make(), sample_weight=w)
    same(state(gm), before)
    gm.partial_fit(X[::3]); twin.partial_fit(X[::3])
    same(state(gm), state(twin))

def test_partial_fit_refused_first_batch_leaves_it_unfitted():
    gm = gmm()
    with pytest.raises(ValueError, match='second moments overflow'): gm.partial_fit(np.full((5, 2), 1e20) * np.arange(1, 11).reshape(5, 2))
    assert not hasattr(gm, 'means_') and getattr(gm, '_online', None) is None
    same(state(gm.partial_fit(X)), state(gmm().partial_fit(X)))

def test_partial_fit_after_fit_refused_batch_keeps_the_fit():
    gm, twin = gmm().fit(X), gmm().fit(X)
    sd = gm.state_dict()
    with pytest.raises(ValueError, match='second moments overflow'): gm.partial_fit(np.full((3, 2), 1e20))
    assert all(torch.equal(gm.state_dict()[k], v) for k, v in sd.items()) and len(gm.trace) == len(twin.trace)
    same(state(gm.partial_fit(X[:50])), state(twin.partial_fit(X[:50])))


# --- memory ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('err', [torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB'),
                                 RuntimeError('[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: you tried to allocate 320000000000 bytes.'),
                                 MemoryError()], ids=['cuda', 'cpu', 'python'])
def test_out_of_memory_points_to_out_of_core(err, monkeypatch):
    "An allocation failure while holding the data: a MemoryError naming fit(batches) and partial_fit, the original as its cause."
    def boom(*a, **kw): raise err
    monkeypatch.setattr(em.sources, 'gmm_features', boom)
    for call in (lambda: gmm().fit(X), lambda: gmm().init(X)):
        with pytest.raises(MemoryError, match=r'out of memory on cpu with X of shape \(180, 2\).*pass batches.*partial_fit') as e: call()
        assert e.value.__cause__ is err
    with pytest.raises(MemoryError, match='use smaller batches'): gmm().fit([X[:90], X[90:]])
    with pytest.raises(MemoryError, match='partial_fit: out of memory.*use smaller batches'): gmm().partial_fit(X)

def test_other_runtime_errors_pass_through(monkeypatch):
    def boom(*a, **kw): raise RuntimeError('not an allocation problem')
    monkeypatch.setattr(em.sources, 'gmm_features', boom)
    with pytest.raises(RuntimeError, match='^not an allocation problem$'): gmm().fit(X)


# --- seeds -----------------------------------------------------------------------------------------------------------
def test_seeds_are_checked_by_core():
    "random_state and sample's seed: integers in [0, 2**63), named; the largest works and reproduces."
    for bad in (2 ** 64, 2 ** 63, -1):
        with pytest.raises(ValueError, match=rf'random_state={bad}: expected an integer in \[0, 9223372036854775807\]'): gmm(random_state=bad)
    a, b = gmm(random_state=2 ** 63 - 1).fit(X), gmm(random_state=np.int64(2 ** 63 - 1)).fit(X)
    assert np.array_equal(a.means_, b.means_)
    with pytest.raises(ValueError, match=r'seed=18446744073709551616: expected an integer in \[0, '): a.sample(3, seed=2 ** 64)
    assert np.array_equal(a.sample(4, seed=2 ** 63 - 1)[0], b.sample(4, seed=2 ** 63 - 1)[0])


# --- blobs' sizes are checked before any work ------------------------------------------------------------------------
@pytest.mark.parametrize('kw,match', [(dict(n=2000, k=100_000), 'k=100000: expected at most 10,000 components'),
                                      (dict(n=10 ** 13, k=3), 'n=10000000000000, k=3, d=2: expected sizes that fit in memory'),
                                      (dict(n=10, k=3, d=10 ** 6), 'n=10, k=3, d=1000000: expected sizes that fit in memory')])
def test_blobs_refuses_sizes_at_once(kw, match):
    t = time.perf_counter()
    with pytest.raises(ValueError, match=match): blobs(**kw, seed=0)
    assert time.perf_counter() - t < 1.

def test_cli_em_with_too_many_components_fails_fast():
    "`mlenb em --k 100000` no longer hangs: one line naming k, exit status 2."
    r = subprocess.run([str(pathlib.Path(sys.executable).parent / 'mlenb'), 'em', '--k', '100000', '--quiet'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'k=100000' in r.stderr and 'Traceback' not in r.stderr, r.stderr
