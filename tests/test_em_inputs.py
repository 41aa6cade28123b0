"Bad input to mlenb.em: each case a clear error naming the argument."
import numpy as np
import pytest
import torch

from mlenb.em import GaussianMixture, CollapseError, NotFittedError

pytestmark = pytest.mark.filterwarnings('ignore::mlenb.em.ConvergenceWarning')
rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 6])
fit = lambda **kw: GaussianMixture(**{'n_components': 2, 'progress': False, **kw})

@pytest.mark.parametrize('make,data,match', [
    (lambda: fit(), [[0., 1.], [np.nan, 2.], [1., 1.]], r'X: contains NaN at index \(1, 0\)'),
    (lambda: fit(), [[0., 1.], [np.inf, 2.], [1., 1.]], 'X: contains inf'),
    (lambda: fit(), np.zeros(5), r'X: expected a 2-D array \(n_samples, n_features\), got shape \(5,\)'),
    (lambda: fit(), np.zeros((2, 2, 2)), 'X: expected a 2-D array'),
    (lambda: fit(), np.zeros((0, 2)), r'X: expected at least 2 row\(s\)'),
    (lambda: fit(n_components=1), np.zeros((1, 2)), r'X: expected at least 2 row\(s\)'),
    (lambda: fit(n_components=5), X[:3], 'n_components=5: expected at most n_samples=3'),
    (lambda: fit(weights_init=[.5, .6]), X, 'weights_init: expected weights summing to 1'),
    (lambda: fit(weights_init=[1.2, -.2]), X, r'weights_init: expected weights in \[0, 1\]'),
    (lambda: fit(weights_init=[.2, .3, .5]), X, r'weights_init: expected shape \(2,\)'),
    (lambda: fit(means_init=np.zeros((2, 3))), X, r'means_init: expected shape \(2, 2\)'),
    (lambda: fit(precisions_init=np.stack([np.eye(2), [[1., 2.], [2., 1.]]])), X, r'precisions_init: expected positive definite precisions; not so \(component 1\)'),
    (lambda: fit(precisions_init=np.stack([np.eye(2), [[1., .5], [0., 1.]]])), X, 'precisions_init: expected symmetric'),
    (lambda: fit(covariance_type='spherical', precisions_init=[1., -1.]), X, r'not so \(component 1\)'),
    (lambda: fit(covariance_type='tied', precisions_init=np.eye(3)), X, r'precisions_init: expected shape \(2, 2\)'),
])
def test_bad_data_and_inits(make, data, match):
    with pytest.raises(ValueError, match=match): make().fit(data)

def test_non_numbers_are_a_type_error():
    with pytest.raises(TypeError, match='X: expected real numbers'): fit().fit([['a', 'b'], ['c', 'd']])

def test_bad_sample_weight():
    with pytest.raises(ValueError, match='sample_weight: expected 60 weights'): fit().fit(X, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match='sample_weight: expected non-negative'): fit().fit(X, sample_weight=-np.ones(60))
    with pytest.raises(ValueError, match='sample_weight: the weights sum to 0'): fit().fit(X, sample_weight=np.zeros(60))
    with pytest.raises(ValueError, match='sample_weight: contains NaN'): fit().fit(X, sample_weight=np.full(60, np.nan))
    with pytest.raises(ValueError, match=r'put the weights in the batches as \(X, w\) pairs'): fit().fit([X[:30], X[30:]], sample_weight=np.ones(60))

@pytest.mark.parametrize('kw,match,err', [
    (dict(n_components=0), 'n_components=0: expected an integer >= 1', ValueError),
    (dict(n_components=2.5), 'n_components=2.5: expected an integer', TypeError),
    (dict(covariance_type='ful'), "covariance_type='ful': expected one of 'full', 'tied', 'diag', 'spherical'", ValueError),
    (dict(init_params='kmeans+'), "init_params='kmeans\\+'", ValueError),
    (dict(tol=-1), 'tol=-1.0: expected a number >= 0', ValueError),
    (dict(reg_covar=float('nan')), 'reg_covar=nan: expected a finite number', ValueError),
    (dict(max_iter=-1), 'max_iter=-1', ValueError),
    (dict(n_init=0), 'n_init=0', ValueError),
    (dict(dtype=torch.int64), 'dtype=torch.int64', ValueError),
    (dict(device='tpu'), "device='tpu'", ValueError),
    (dict(random_state='seed'), "random_state='seed'", TypeError),
    (dict(learning_decay=0.5), 'learning_decay=0.5', ValueError),
    (dict(progress='yes'), "progress='yes': expected True or False", TypeError),
])
def test_unknown_options(kw, match, err):
    with pytest.raises(err, match=match): GaussianMixture(**kw)

def test_options_changed_later_are_checked_at_fit():
    gm = fit()
    gm.covariance_type = 'nope'
    with pytest.raises(ValueError, match="covariance_type='nope'"): gm.fit(X)

def test_wrong_feature_count_at_predict_time():
    gm = fit(random_state=0).fit(X)
    for f in (gm.predict, gm.predict_proba, gm.score_samples, gm.score, gm.bic, gm.partial_fit):
        with pytest.raises(ValueError, match='X has 3 features, but GaussianMixture is expecting 2 features as input'): f(np.zeros((4, 3)))

def test_not_fitted():
    gm = fit()
    for f in (lambda: gm.predict(X), lambda: gm.sample(2), lambda: gm.state_dict(), gm.step, gm.e_step):
        with pytest.raises(NotFittedError): f()
    assert not hasattr(gm, 'means_')

def test_one_shot_iterator_refused():
    with pytest.raises(ValueError, match='one-shot iterator'): fit().fit(b for b in [X[:30], X[30:]])
    with pytest.raises(ValueError, match='batch 1: has 3 features, but the first batch has 2'): fit().fit([X, np.zeros((5, 3))])
    with pytest.raises(ValueError, match='batch 0: contains NaN'): fit().fit([np.full((4, 2), np.nan)])

@pytest.mark.parametrize('ct', ['full', 'tied', 'diag', 'spherical'])
def test_duplicates_stay_finite_with_reg_covar(ct):
    Xd = np.concatenate([np.zeros((20, 2)), np.ones((20, 2)), rng.normal(size=(10, 2))])
    gm = GaussianMixture(3, covariance_type=ct, dtype=torch.float64, random_state=0, progress=False).fit(Xd)
    assert np.isfinite(gm.covariances_).all() and np.isfinite(gm.score(Xd))

@pytest.mark.parametrize('ct', ['full', 'diag', 'spherical'])
def test_collapse_without_reg_covar_names_the_component(ct):
    Xd = np.concatenate([np.zeros((20, 2)), rng.normal(size=(40, 2)) + 5])
    with pytest.raises(CollapseError, match=r'component \d collapsed: its covariance is not positive definite .*reg_covar \(now 0.0\)'):
        GaussianMixture(2, covariance_type=ct, reg_covar=0., dtype=torch.float64, random_state=0, progress=False).fit(Xd)

def test_collapse_during_iterations_says_when():
    "A component that shrinks onto one point over the iterations stops EM, naming the iteration and the component."
    Xd = np.concatenate([rng.normal(size=(40, 2)), [[8., 8.]], rng.normal(size=(40, 2)) * .01 + [8., 8.]])
    Xd[41:] = [8., 8.]   # 41 copies of one point, and a cluster around the origin
    gm = GaussianMixture(2, reg_covar=0., dtype=torch.float64, progress=False, weights_init=[.5, .5],
                         means_init=[[0., 0.], [7., 7.]], precisions_init=np.stack([np.eye(2), np.eye(2)]))
    with pytest.raises(CollapseError, match=r'EM iteration \d+: component 1 collapsed'): gm.fit(Xd)

def test_init_needs_enough_distinct_weighted_points():
    with pytest.raises(ValueError, match='n_components=3: the rows to initialise from hold only 2 point'):
        fit(n_components=3, init_params='k-means++').fit(X[:5], sample_weight=[1., 1., 0., 0., 0.])
