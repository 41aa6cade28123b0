"""Bad input to the flows engine, for every preset: non-finite points, points that overflow the flow's dtype, seeds
outside 64 bits, masks that are not masks, and sizes that cannot fit in memory. Each is a ValueError or TypeError that
names the argument, its value and what was expected, raised before any work; a finite point far out has a very
negative log-density, never NaN. The checks live in one place (core's `as_tensor`, `check_seed`, `check_memory`)."""
import numpy as np
import pytest
import torch

from mlenb.flows import *
import mlenb.flows.trainer as trainer_module

INF, NAN = float('inf'), float('nan')

# Every preset, small. A ContinuousFlow takes the same points through the same check.
PRESETS = {
    'realnvp': lambda **kw: Flow.realnvp(2, layers=4, hidden=16, **kw),
    'maf': lambda **kw: Flow.maf(2, layers=4, hidden=16, **kw),
    'nsf': lambda **kw: Flow.nsf(2, layers=4, hidden=16, bins=8, **kw),
}
MODELS = {**PRESETS,
          'nsf_autoregressive': lambda **kw: Flow.nsf(2, layers=4, hidden=16, bins=8, autoregressive=True, **kw),
          'continuous': lambda **kw: ContinuousFlow(2, hidden=16, steps=4, **kw)}
INPUT_TYPES = {'list': lambda a: a.tolist(), 'numpy': lambda a: a, 'tensor': torch.from_numpy}


def perturbed(name, dtype=torch.float32):
    "A seeded model with noise on every parameter: a fresh one is its base, with zero last layers."
    m = MODELS[name](seed=0).to(dtype)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters(): p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return m


def test_every_preset_is_covered():
    presets = {k for k, v in vars(Flow).items() if isinstance(v, classmethod)}
    assert presets == set(PRESETS)


# ---- points ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', MODELS)
@pytest.mark.parametrize('kind', INPUT_TYPES)
@pytest.mark.parametrize('bad,match', [(INF, r'x: contains inf at index \(1, 0\)'), (-INF, 'x: contains inf'),
                                       (NAN, r'x: contains NaN at index \(1, 0\)')])
def test_non_finite_points_are_refused_whatever_their_type(name, kind, bad, match):
    x = INPUT_TYPES[kind](np.array([[0., 1.], [bad, 0.]]))
    with pytest.raises(ValueError, match=match):
        perturbed(name).log_prob(x)


@pytest.mark.parametrize('name', MODELS)
@pytest.mark.parametrize('kind', INPUT_TYPES)
def test_points_that_overflow_the_flows_dtype_are_refused(name, kind):
    x = INPUT_TYPES[kind](np.array([[0., 1e300]]))      # finite in float64, inf in the flow's float32
    with pytest.raises(ValueError, match=r'x: 1e\+300 at index \(0, 1\) .*overflows float32'):
        perturbed(name).log_prob(x)


@pytest.mark.parametrize('name', MODELS)
@pytest.mark.parametrize('dtype,scales', [(torch.float32, [1e6, 1e20, 1e36, 3e38]), (torch.float64, [1e100, 1e300, 1.7e308])])
def test_far_finite_points_are_very_unlikely_never_nan(name, dtype, scales, device):
    m = perturbed(name, dtype).to(device)
    x = torch.tensor([[s * a, s * b] for s in scales for a, b in [(1, 0), (0, 1), (1, 1), (-1, 1), (-1, -1)]], dtype=dtype, device=device)
    lp = m.log_prob(x)
    assert not lp.isnan().any()
    assert (lp < -1e10).all()        # finite and very negative, or -inf where the arithmetic overflowed


@pytest.mark.parametrize('name', PRESETS)
def test_layer_by_layer_log_prob_is_never_nan_either(name):
    fl = perturbed(name).log_prob_layers(torch.tensor([[3e38, -3e38], [0., 0.]]))
    assert not fl.log_prob.isnan().any()


@pytest.mark.parametrize('name', MODELS)
def test_checked_points_keep_their_gradient(name):
    x = torch.randn(3, 2, requires_grad=True)
    perturbed(name).log_prob(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_nan_parameters_are_not_hidden_as_zero_density():
    f = perturbed('realnvp')
    with torch.no_grad(): next(f.parameters()).fill_(NAN)
    assert f.log_prob(torch.zeros(2, 2)).isnan().all()


@pytest.mark.parametrize('name', PRESETS)
@pytest.mark.parametrize('bad', [INF, NAN, 1e300])
def test_initialize_refuses_what_log_prob_refuses(name, bad):
    f = PRESETS[name](seed=0)
    before = {k: v.clone() for k, v in f.state_dict().items()}
    with pytest.raises(ValueError, match='x: '):
        f.initialize(torch.tensor([[0., 1.], [bad, 0.], [1., 1.]], dtype=torch.float64))
    assert all(torch.equal(before[k], v) for k, v in f.state_dict().items())   # nothing half-initialised


def test_initialize_on_far_out_finite_data_stays_finite(device):
    "A float32 variance of such data overflows where it is accumulated in float32 (CUDA); the CPU accumulates in float64."
    f = Flow.nsf(2, layers=2, hidden=8, seed=0).to(device)
    x = (torch.randn(500, 2, generator=torch.Generator().manual_seed(0)) * 1e30).to(device)
    f.initialize(x)
    assert all(torch.isfinite(p).all() for p in f.parameters())
    assert torch.isfinite(f.log_prob(x)).all()


def test_training_path_stays_unchecked():
    "The trainer's `_log_prob` (and a CUDA graph captured around it) has no host-side checks: bad points just compute."
    f = perturbed('realnvp')
    assert f._log_prob(torch.tensor([[INF, 0.]])).shape == (1,)


def test_a_data_target_that_overflows_is_refused():
    X = np.random.default_rng(0).normal(size=(50, 2)); X[3, 1] = 1e300
    with pytest.raises(ValueError, match=r'target: 1e\+300 at index \(3, 1\) .*overflows float32'):
        Trainer(Flow.realnvp(2, layers=2, hidden=8), X, progress=False)


# ---- seeds ----------------------------------------------------------------------------------------------
SEED_USES = {
    'preset': lambda name, s: PRESETS[name](seed=s),
    'sample': lambda name, s: PRESETS[name](seed=0).sample(3, seed=s),
    'rsample_and_log_prob': lambda name, s: PRESETS[name](seed=0).rsample_and_log_prob(3, seed=s),
    'trainer': lambda name, s: Trainer(PRESETS[name](seed=0), 'moons', seed=s, progress=False),
    'reverse_kl_loss': lambda name, s: reverse_kl_loss(PRESETS[name](seed=0), lambda x: -(x * x).sum(-1), n=8, seed=s),
}


@pytest.mark.parametrize('name', PRESETS)
@pytest.mark.parametrize('use', SEED_USES)
@pytest.mark.parametrize('seed,err', [(2**64, ValueError), (2**63, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_seeds_outside_the_range_name_the_argument(name, use, seed, err):
    with pytest.raises(err, match=f'seed={seed!r}: expected an integer'):
        SEED_USES[use](name, seed)


@pytest.mark.parametrize('make_it', [lambda s: RandomPermutation(3, seed=s), lambda s: LULinear(3, seed=s),
                                     lambda s: ContinuousFlow(2, seed=s)])
def test_transforms_seeds_are_checked_too(make_it):
    with pytest.raises(ValueError, match='seed=18446744073709551616: expected an integer in'):
        make_it(2**64)


def test_the_largest_seed_trains():
    "The trainer derives streams seed + k: they wrap around and stay valid seeds."
    tr = Trainer(Flow.realnvp(2, layers=2, hidden=8), 'moons', seed=2**63 - 1, batch_size=64, val_size=100, progress=False)
    assert np.isfinite(tr.step(2).loss)


# ---- masks, orders, permutations -----------------------------------------------------------------------
@pytest.mark.parametrize('preset', [Flow.realnvp, Flow.nsf])
@pytest.mark.parametrize('mask,err', [('ab', TypeError), (['a', 'b'], TypeError), ([0.5, 0.5], TypeError),
                                      ([[1, 0]], ValueError), ([1, 0, 1], ValueError), ([2, 0], ValueError)])
def test_masks_that_are_not_masks_name_the_argument(preset, mask, err):
    with pytest.raises(err, match=r'mask=.*: expected 2 booleans'):
        preset(2, mask=mask)


@pytest.mark.parametrize('make_it,match', [
    (lambda: Permutation('ab'), "perm='ab': expected a permutation"),
    (lambda: Permutation([0.2, 1.]), r'perm=\[0.2, 1.0\]: expected a permutation'),
    (lambda: MADE(3, 2, order='abc'), "order='abc': expected a permutation of 0..2"),
    (lambda: MaskedAutoregressive(2, order=[True, False]), r'order=\[True, False\]: expected a permutation of 0..1'),
])
def test_orders_and_permutations_that_are_not_integers(make_it, match):
    with pytest.raises(TypeError, match=match):
        make_it()


# ---- sizes ----------------------------------------------------------------------------------------------
HUGE = [dict(layers=2**62), dict(hidden=2**40), dict(hidden=(64, 2**40)), dict(layers=10**7, hidden=1), dict(dim=2**40)]


@pytest.mark.parametrize('name', PRESETS)
@pytest.mark.parametrize('sizes', HUGE, ids=lambda d: ','.join(d))
def test_sizes_that_cannot_fit_are_refused_before_any_work(name, sizes, monkeypatch):
    kw = {'dim': 2, **sizes}
    monkeypatch.setattr(torch.nn.Module, '__init__', lambda *a, **k: pytest.fail('built a layer before refusing the sizes'))
    with pytest.raises(ValueError, match='expected sizes that fit in memory') as e:
        getattr(Flow, name)(kw.pop('dim'), **kw)
    for k, v in sizes.items(): assert f'{k}={v!r}' in str(e.value)


@pytest.mark.parametrize('make_it,match', [
    (lambda: ActNorm(2**60), 'dim=1152921504606846976'),
    (lambda: Reverse(2**60), 'dim=1152921504606846976'),
    (lambda: LULinear(2**20), 'dim=1048576'),
    (lambda: MLP(2, 2, hidden=2**40), 'hidden=(1099511627776, 1099511627776)'),
    (lambda: MADE(2, 3, hidden=2**40), 'hidden=(1099511627776, 1099511627776)'),
    (lambda: checkerboard(2**31, 2**31), 'height=2147483648, width=2147483648'),
    (lambda: ContinuousFlow(2, hidden=2**40), 'hidden=(1099511627776, 1099511627776)'),
])
def test_transform_sizes_that_cannot_fit(make_it, match):
    with pytest.raises(ValueError, match=match.replace('(', r'\(').replace(')', r'\)') + ': expected sizes that fit in memory'):
        make_it()


@pytest.mark.parametrize('name', MODELS)
def test_a_sample_that_cannot_fit_is_refused(name):
    with pytest.raises(ValueError, match='sample_shape=1099511627776: expected sizes that fit in memory'):
        MODELS[name](seed=0).sample(2**40)


@pytest.mark.parametrize('name', PRESETS)
@pytest.mark.parametrize('kw,match', [(dict(batch_size=2**40), 'batch_size=1099511627776, pool=64'),
                                      (dict(pool=2**40), 'batch_size=1024, pool=1099511627776'),
                                      (dict(val_size=2**40), 'val_size=1099511627776'),
                                      (dict(grid_size=2**31), 'grid_size=2147483648')])
def test_trainer_sizes_that_cannot_fit_are_refused_before_any_draw(name, kw, match, monkeypatch):
    flow = PRESETS[name](seed=0)
    monkeypatch.setattr(trainer_module, '_Target', lambda *a, **k: pytest.fail('drew from the target before refusing the sizes'))
    with pytest.raises(ValueError, match=f'{match}: expected sizes that fit in memory'):
        Trainer(flow, 'moons', progress=False, **kw)


def test_losses_refuse_sizes_that_cannot_fit():
    f = PRESETS['realnvp'](seed=0)
    with pytest.raises(ValueError, match='n=1099511627776: expected sizes'):
        reverse_kl_loss(f, lambda x: -(x * x).sum(-1), n=2**40)
    with pytest.raises(ValueError, match='batch_size=1099511627776: expected sizes'):
        gradient_variance(f, lambda x: -(x * x).sum(-1), batch_size=2**40)


def test_fit_takes_any_number_of_steps_lazily():
    "fit(10**18) must not build a list of 10**16 chunks first: here the run stops after the first one."
    tr = Trainer(Flow.realnvp(2, layers=2, hidden=8), 'moons', batch_size=64, val_size=100, progress=False)
    calls = []
    def step(n):
        calls.append(n); tr.stopped = 'stopped by the test'
        return tr.trace.last
    tr.step = step
    tr.fit(10**18)                                # a list of 10**16 chunks made first would fail with MemoryError
    assert calls == [tr.eval_every]
