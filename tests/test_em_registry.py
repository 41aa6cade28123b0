"""The covariance-type registry of mlenb.em: every registered type is covered by the parametrised tests, and a type
registered here (a copy of 'spherical' under another name) works through GaussianMixture end to end."""
import importlib, math

import numpy as np
import pytest
import torch

from mlenb.em import GaussianMixture, COVARIANCES, COVARIANCE_TYPES, Covariance, SphericalCovariance, register_covariance

pytestmark = pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning')
BUILT_IN = tuple(COVARIANCE_TYPES)   # at import, before any test registers one
# the test modules whose tests loop over covariance types; test_em.py holds the scikit-learn oracles
MODULES = ('test_em', 'test_em_missing', 'test_em_properties', 'test_em_float32_scale', 'test_em_bad_inputs', 'test_em_inputs')

def ct_values(module)->dict:
    "Test function name -> the covariance types it is parametrised over (argument `ct`)."
    out = {}
    for name, fn in vars(module).items():
        for mark in getattr(fn, 'pytestmark', []) if name.startswith('test') else []:
            if mark.name != 'parametrize': continue
            names = [n.strip() for n in (mark.args[0].split(',') if isinstance(mark.args[0], str) else mark.args[0])]
            if 'ct' not in names: continue
            i = names.index('ct')
            rows = [v.values if hasattr(v, 'marks') else (v,) if len(names) == 1 else v for v in mark.args[1]]   # pytest.param or plain
            out.setdefault(name, set()).update(r[i] for r in rows)
    return out

def test_registry_is_the_choices():
    assert list(COVARIANCE_TYPES) == list(COVARIANCES) == ['full', 'tied', 'diag', 'spherical']
    assert all(isinstance(c, Covariance) and c.name == n for n, c in COVARIANCES.items())

def test_every_type_implements_every_method():
    for c in COVARIANCES.values():
        assert [m for m in vars(Covariance) if getattr(type(c), m) is Covariance._todo] == ['_todo'], c

@pytest.mark.parametrize('module', MODULES)
def test_every_registered_type_is_covered(module):
    "Each test module that loops over covariance types reaches every registered type; the oracle tests each reach all."
    tests = ct_values(importlib.import_module(module))
    assert tests, f"{module}: no test parametrised over ct"
    assert set(BUILT_IN) <= set().union(*tests.values()), f"{module} misses {set(BUILT_IN) - set().union(*tests.values())}"
    if module == 'test_em':
        for name, cts in tests.items(): assert cts == set(BUILT_IN), (name, cts)

@pytest.fixture
def isotropic():
    "'isotropic': 'spherical' under another name, registered for one test."
    @register_covariance
    class IsotropicCovariance(SphericalCovariance): name = 'isotropic'
    yield 'isotropic'
    del COVARIANCES['isotropic']

def blobs(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0., 0.], [6., 1.], [2., 6.]], dtype=torch.float64)
    return centres[torch.arange(n) % 3] + torch.randn(n, 2, generator=g, dtype=torch.float64)

def same(a:GaussianMixture, b:GaussianMixture, X):
    "Two fitted models give exactly the same parameters, trace and answers."
    for k in ('weights_', 'means_', 'covariances_', 'precisions_cholesky_', 'precisions_'): assert torch.equal(getattr(a, k), getattr(b, k)), k
    la, lb = a.trace.series('loglik'), b.trace.series('loglik')
    assert torch.equal(la.isnan(), lb.isnan()) and torch.equal(la[~la.isnan()], lb[~lb.isnan()])
    for f in ('predict_proba', 'score_samples'): assert torch.equal(getattr(a, f)(X), getattr(b, f)(X)), f
    assert a.bic(X) == b.bic(X) and a._n_parameters() == b._n_parameters()
    assert torch.equal(a.sample(20, seed=1)[0], b.sample(20, seed=1)[0])

@pytest.mark.parametrize('init', ['kmeans', 'random'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_registered_type_fits_like_its_twin(isotropic, init, dtype):
    X = blobs()
    kw = dict(dtype=dtype, init_params=init, n_init=2, random_state=0, max_iter=50, progress=False)
    a, b = GaussianMixture(3, covariance_type=isotropic, **kw).fit(X), GaussianMixture(3, covariance_type='spherical', **kw).fit(X)
    same(a, b, X)
    assert a.covariances_.shape == (3,) and a.converged_

def test_registered_type_everywhere_else(isotropic):
    "Missing entries, batches, sample weights, online EM, initial precisions and a state round trip, all as 'spherical'."
    X = blobs(); Xm = X.clone(); Xm[torch.rand(X.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64) < .2] = math.nan
    w = torch.rand(300, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for ct in (isotropic, 'spherical'): assert ct in COVARIANCE_TYPES
    fit = lambda ct, data, **kw: GaussianMixture(3, covariance_type=ct, dtype=torch.float64, random_state=0, max_iter=20, progress=False, **kw).fit(*data)
    same(fit(isotropic, (Xm,), missing='marginalise'), fit('spherical', (Xm,), missing='marginalise'), Xm)
    same(fit(isotropic, ([X[:150], X[150:]],)), fit('spherical', ([X[:150], X[150:]],)), X)
    same(fit(isotropic, (X, w)), fit('spherical', (X, w)), X)
    on = {ct: GaussianMixture(3, covariance_type=ct, dtype=torch.float64, random_state=0, average=3) for ct in (isotropic, 'spherical')}
    for i in range(0, 300, 30):
        for m in on.values(): m.partial_fit(X[i:i + 30])
    same(on[isotropic], on['spherical'], X)
    p = np.array([1., 2., .5])
    same(fit(isotropic, (X,), precisions_init=p), fit('spherical', (X,), precisions_init=p), X)
    b = GaussianMixture(3, covariance_type=isotropic, dtype=torch.float64).load_state_dict(on[isotropic].state_dict())
    # the state holds the means uncentred, and loading centres them again: rounding at a few ulps of the means
    torch.testing.assert_close(b.predict_proba(X), on[isotropic].predict_proba(X), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match=r'precisions_init: expected shape \(3,\)'): fit(isotropic, (X,), precisions_init=np.ones((3, 2)))

def test_unregistered_type_is_refused_and_incomplete_type_names_itself(isotropic):
    del COVARIANCES[isotropic]
    with pytest.raises(ValueError, match='covariance_type'): GaussianMixture(2, covariance_type='isotropic').fit(blobs())
    @register_covariance
    class HalfDone(Covariance): name = 'isotropic'   # the fixture removes it again
    with pytest.raises(NotImplementedError, match='HalfDone lacks a method of Covariance'):
        GaussianMixture(2, covariance_type='isotropic', progress=False).fit(blobs())
