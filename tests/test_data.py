"""Tests of `mlenb.data`: every toy density against quadrature, its own samples and brute force; blobs
against their truth; the bundled data sets. The heavy checks live here, the examples in nbs/01_data.ipynb."""
import functools, math, sys

import pytest
import torch
from torch.distributions import Distribution, MixtureSameFamily, Categorical, Independent, Normal

from mlenb.data import *
from mlenb.data import Moons, Pinwheel, Rings, Spirals, _spiral_nodes, _log_smoothed_box

F64 = torch.float64
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
SMOOTH = [n for n in TOY_NAMES if n != 'checkerboard']
H = 0.025          # spacing of the fine grid over `bounds` used for mass, entropy and histogram checks
N_MC = 200_000     # samples whose mean -log p estimates the entropy


@functools.cache
def fine_grid(name):
    "The toy's log-density at the centres of cells of side about `H` covering its bounds."
    t = toy(name)
    (x0, x1), (y0, y1) = t.bounds
    return t.grid((round((x1 - x0) / H), round((y1 - y0) / H)))


@functools.cache
def mc(name):
    "N_MC float64 samples and their log-density."
    x = toy(name).sample(N_MC, seed=1234, dtype=F64)
    return x, toy(name).log_prob(x)


# --- the registry ---------------------------------------------------------------------------------

def test_names():
    assert TOY_NAMES == ('moons', '8gaussians', 'rings', 'checkerboard', 'pinwheel', 'spirals')
    for n in TOY_NAMES:
        t = toy(n)
        assert isinstance(t, ToyDensity) and isinstance(t, Distribution) and t.name == n and t is toy(n)
        assert t.event_shape == (2,) and n in repr(t)
    with pytest.raises(ValueError, match="name='2moons': expected one of 'moons', '8gaussians', 'rings', 'checkerboard', 'pinwheel', 'spirals'"):
        toy('2moons')
    with pytest.raises(ValueError, match='name=3'): toy(3)


# --- the density is normalised, its entropy right, and it matches its own sampler ----------------

@pytest.mark.parametrize('name', TOY_NAMES)
def test_integrates_to_one(name):
    "Midpoint rule on cells of side 0.025 over `bounds` (for checkerboard the squares' edges are cell edges: exact)."
    g = fine_grid(name)
    mass = float(g.log_prob.exp().sum() * g.cell_area)
    assert abs(mass - 1) < 1e-4, mass


@pytest.mark.parametrize('name', TOY_NAMES)
def test_bounds_hold_the_mass(name):
    "At most a few of 200,000 samples fall outside `bounds`."
    x, _ = mc(name)
    (x0, x1), (y0, y1) = toy(name).bounds
    out = ((x[:, 0] < x0) | (x[:, 0] > x1) | (x[:, 1] < y0) | (x[:, 1] > y1)).sum()
    assert out <= 3, int(out)


@pytest.mark.parametrize('name', TOY_NAMES)
def test_entropy_is_mean_neg_log_prob(name):
    "The entropy equals E[-log p(X)], estimated from 200,000 samples (standard error about 0.002)."
    _, lp = mc(name)
    est, se = float(-lp.mean()), float(lp.std() / math.sqrt(N_MC))
    assert abs(est - toy(name).entropy()) < 0.01, (est, se, toy(name).entropy())


@pytest.mark.parametrize('name', SMOOTH)
def test_entropy_quadrature_converged(name):
    "A second quadrature on a finer, different grid gives the same entropy."
    g = fine_grid(name)
    H2 = float(-(g.log_prob.exp() * g.log_prob).sum() * g.cell_area)
    assert abs(H2 - toy(name).entropy()) < 1e-6, (H2, toy(name).entropy())


@pytest.mark.parametrize('name, ref', [('moons', 2.392), ('8gaussians', 2.829), ('rings', 2.625)])
def test_entropy_reference_values(name, ref):
    "Published values (PAPERS.md, rounded, about ±0.002). Ours: moons 2.39388, 8gaussians 2.83188, rings 2.62318."
    assert abs(toy(name).entropy() - ref) <= 0.003, toy(name).entropy()


def test_entropy_checkerboard_exact():
    assert abs(toy('checkerboard').entropy() - math.log(32)) < 1e-9
    assert isinstance(toy('moons').entropy(), float)


def _cell_masses(name):
    "Mass of each histogram cell (0.5 or 0.4 wide): sums over blocks of the fine grid's cells."
    g = fine_grid(name)
    p = g.log_prob.exp() * g.cell_area
    ny, nx = p.shape
    b = 20 if nx % 20 == 0 and ny % 20 == 0 else 16
    assert nx % b == 0 and ny % b == 0
    return p.reshape(ny // b, b, nx // b, b).sum((1, 3))


def _tv(name, x):
    "Total variation between the empirical distribution of `x` over the histogram cells and the density's."
    m = _cell_masses(name)
    by, bx = m.shape
    (x0, x1), (y0, y1) = toy(name).bounds
    ix = ((x[:, 0] - x0) / (x1 - x0) * bx).floor().long()
    iy = ((x[:, 1] - y0) / (y1 - y0) * by).floor().long()
    inside = (ix >= 0) & (ix < bx) & (iy >= 0) & (iy < by)
    freq = torch.bincount(iy[inside] * bx + ix[inside], minlength=by * bx).reshape(by, bx).to(F64) / len(x)
    return float(0.5 * ((freq - m).abs().sum() + abs(float(1 - inside.to(F64).mean()) - float(1 - m.sum()))))


@pytest.mark.parametrize('name', TOY_NAMES)
def test_samples_match_density(name):
    """A 2-D histogram of 1,000,000 samples against the density's mass per cell: total variation < 0.01
    (sampling noise alone gives 0.003 to 0.005). The same samples stretched by 1% fail (0.024 to 0.044)."""
    x = toy(name).sample(1_000_000, seed=7, dtype=F64)
    tv = _tv(name, x)
    assert tv < 0.01, tv
    assert _tv(name, x * 1.01) > 0.01


# --- exactness against brute force ------------------------------------------------------------------

def _test_points(name, n=400, seed=0):
    "Points spread over the bounds and beyond, plus samples (near the mass)."
    t, g = toy(name), torch.Generator().manual_seed(seed)
    (x0, x1), (y0, y1) = t.bounds
    box = torch.rand(n, 2, generator=g, dtype=F64) * torch.tensor([x1 - x0 + 2, y1 - y0 + 2], dtype=F64) + torch.tensor([x0 - 1, y0 - 1], dtype=F64)
    return torch.cat([box, t.sample(n, seed=seed + 1, dtype=F64)])


def test_moons_against_many_nodes():
    "128 Gauss-Legendre nodes a moon against 1024."
    x = _test_points('moons')
    ref = Moons(); ref.n_nodes = 1024
    assert (toy('moons').log_prob(x) - ref.log_prob(x)).abs().max() < 1e-9


def test_8gaussians_against_torch_mixture():
    x = _test_points('8gaussians')
    r = 1 / math.sqrt(2)
    mu = torch.tensor([(1, 0), (-1, 0), (0, 1), (0, -1), (r, r), (r, -r), (-r, r), (-r, -r)], dtype=F64) * 4 / 1.414
    mix = MixtureSameFamily(Categorical(torch.full((8,), 1 / 8, dtype=F64)), Independent(Normal(mu, torch.full_like(mu, 0.5 / 1.414)), 1))
    assert (toy('8gaussians').log_prob(x) - mix.log_prob(x)).abs().max() < 1e-10


def test_rings_against_angle_average():
    "The i0e closed form against the definition: an average over 2048 angles on each circle, in log space."
    x = _test_points('rings', n=200)
    phi = 2 * math.pi * (torch.arange(2048, dtype=F64) + 0.5) / 2048
    circ = torch.tensor([3., 2.25, 1.5, 0.75], dtype=F64)[:, None, None] * torch.stack([phi.cos(), phi.sin()], -1)
    d2 = (x[:, None, None] - circ).pow(2).sum(-1)
    brute = (-d2 / (2 * 0.08 ** 2)).flatten(1).logsumexp(1) - math.log(4 * 2048) - math.log(2 * math.pi * 0.08 ** 2)
    assert (toy('rings').log_prob(x) - brute).abs().max() < 1e-9


def test_checkerboard_support():
    t = toy('checkerboard')
    centres = torch.stack(torch.meshgrid(torch.arange(-3., 4, 2), torch.arange(-3., 4, 2), indexing='ij'), -1).reshape(-1, 2)
    lp = t.log_prob(centres)
    on = (torch.floor(centres / 2).sum(-1) % 2) == 0
    assert on.sum() == 8 and (lp[on] == -math.log(32)).all() and (lp[~on] == -math.inf).all()
    x = t.sample(100_000, seed=0)
    assert (t.log_prob(x) == -math.log(32)).all()
    assert t.log_prob(torch.tensor([[4.5, 0.5], [-4.5, -0.5]])).eq(-math.inf).all()


def _pinwheel_forward(f, k):
    "FFJORD's map: x = 2 f R(θ), θ = 2πk/5 + 0.25 exp(a)."
    th = 2 * math.pi * k / 5 + 0.25 * torch.exp(f[..., 0])
    R = torch.stack([torch.stack([th.cos(), -th.sin()], -1), torch.stack([th.sin(), th.cos()], -1)], -2)
    return 2 * torch.einsum('...i,...ij->...j', f, R)


def test_pinwheel_jacobian_against_autograd():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        f = torch.randn(2, generator=g, dtype=F64) * torch.tensor([0.6, 0.5], dtype=F64) + torch.tensor([1., 0.], dtype=F64)
        k = int(torch.randint(0, 5, (), generator=g))
        J = torch.autograd.functional.jacobian(lambda f: _pinwheel_forward(f, k), f)
        a, b = f.tolist()
        assert abs(abs(torch.linalg.det(J)) - 4 * abs(1 + 0.25 * math.exp(a) * b)) < 1e-12


def test_pinwheel_sampler_is_ffjord_map():
    "The sampler's points are FFJORD's einsum map of its own latents (same seed, same draws)."
    n, g = 1000, torch.Generator().manual_seed(3)
    k = torch.randint(0, 5, (n,), generator=g)
    a = 1 + 0.3 * torch.randn(n, generator=g, dtype=F64)
    b = 0.1 * torch.randn(n, generator=g, dtype=F64)
    x = toy('pinwheel').sample(n, seed=torch.Generator().manual_seed(3), dtype=F64)
    assert torch.allclose(x, _pinwheel_forward(torch.stack([a, b], -1), k.to(F64)), atol=1e-12)


def test_pinwheel_finds_every_sample_latent():
    "For 20,000 samples, the generating (a, b) is among the preimages the search returns (to 1e-12)."
    n, g = 20_000, torch.Generator().manual_seed(1)
    f = torch.randn(n, 2, generator=g, dtype=F64) * torch.tensor([0.3, 0.1], dtype=F64) + torch.tensor([1., 0.], dtype=F64)
    y = _pinwheel_forward(f, torch.randint(0, 5, (n,), generator=g).to(F64)) / 2
    rho = y.norm(dim=1)
    i, m, al = toy('pinwheel')._preimages(rho, torch.atan2(y[:, 1], y[:, 0]))
    err = (rho[i, None] * torch.stack([al.cos(), al.sin()], -1) - f[i]).norm(dim=1)
    best = torch.full((n,), math.inf, dtype=F64).scatter_reduce(0, i, err, 'amin')
    assert best.max() < 1e-12
    counts = torch.bincount(i, minlength=n)
    assert counts.min() >= 5 and (counts % 2 == 1).all()          # one per arm, plus pairs where the phase turns back
    assert (counts == 5).float().mean() > 0.99


def test_pinwheel_radial_law():
    """|x|/2 = |(a, b)|: the density integrated over circles (in polar coordinates) against P(a² + b² < r²),
    computed in the latent space by 1-D quadrature: an oracle independent of the root search."""
    t = toy('pinwheel')
    nr, nphi = 200, 256
    r = 5 * (torch.arange(nr, dtype=F64) + 0.5) / nr                       # radius of x, 0..5
    phi = 2 * math.pi * (torch.arange(nphi, dtype=F64) + 0.5) / nphi
    x = r[:, None, None] * torch.stack([phi.cos(), phi.sin()], -1)
    ring = t.log_prob(x).exp().mean(1) * 2 * math.pi * r * (5 / nr)       # mass of each annulus
    cdf = ring.cumsum(0)[[49, 99, 149, 199]]                                # P(|x| < 1.25, 2.5, 3.75, 5)
    a = torch.linspace(-4, 6, 200_001, dtype=F64)
    ref = []
    for R in (0.625, 1.25, 1.875, 2.5):
        half = (R ** 2 - a ** 2).clamp(min=0).sqrt()
        inner = torch.special.erf(half / (0.1 * math.sqrt(2)))             # P(|b| < sqrt(R² - a²))
        ref.append(float((torch.exp(-0.5 * ((a - 1) / 0.3) ** 2) / (0.3 * math.sqrt(2 * math.pi)) * inner).sum() * (a[1] - a[0])))
    assert torch.allclose(cdf, torch.tensor(ref, dtype=F64), atol=1e-4), (cdf, ref)   # the radial midpoint rule: 2e-5


def test_spirals_against_many_nodes():
    "Against 7,360 nodes a spiral, every panel summed: 1e-9 where log p > -30, 1e-6 out to |x| = 6."
    t = toy('spirals')
    x = torch.cat([_test_points('spirals', n=200), torch.tensor([[0., 0.], [3.3, 0.], [-3.3, 0.], [6., 0.], [0., -6.]], dtype=F64)])
    n, w = _spiral_nodes(panel=0.05, q=20, halvings=30)
    c = torch.stack([-torch.cos(n) * n, torch.sin(n) * n], -1) / 3 + 1 / 12
    centres, logw = torch.cat([c, -c]), (w * 18).log().repeat(2)
    brute = torch.cat([(_log_smoothed_box((xc[:, None] - centres).abs(), 1 / 12, 0.1).sum(-1) + logw).logsumexp(1) for xc in x.split(50)])
    lp = t.log_prob(x)
    near = brute > -30
    assert (lp - brute)[near].abs().max() < 1e-9
    assert (lp - brute).abs().max() < 1e-6


def test_spirals_against_plain_midpoint_rule():
    "An independent formula: the midpoint rule in v = √u with 2^14 nodes, at samples (where that rule is accurate)."
    x = toy('spirals').sample(200, seed=9, dtype=F64)
    v = (torch.arange(2 ** 14, dtype=F64) + 0.5) / 2 ** 14
    n = 3 * math.pi * v
    c = torch.stack([-torch.cos(n) * n, torch.sin(n) * n], -1) / 3
    Phi = lambda z: 0.5 * torch.special.erfc(-z / math.sqrt(2))
    dens = 0
    for s in (1, -1):
        lo, hi = torch.minimum(s * c, s * (c + 1 / 6)), torch.maximum(s * c, s * (c + 1 / 6))   # the square before the noise
        per_axis = (Phi((x[:, None] - lo) / 0.1) - Phi((x[:, None] - hi) / 0.1)) * 6
        dens = dens + 0.5 * (per_axis.prod(-1) * 2 * v / 2 ** 14).sum(1)
    err = (toy('spirals').log_prob(x) - dens.log()).abs()
    assert err.median() < 1e-12 and err.max() < 1e-5   # the midpoint rule's O(h²) error at the spiral's ends: ~3e-6


def test_spirals_nodes():
    n, w = _spiral_nodes()
    assert len(n) == 660 and abs(float(w.sum()) - 1) < 1e-13 and (w > 0).all()
    assert (n.diff() > 0).all() and 0 < n.min() and n.max() < 3 * math.pi
    assert abs(float((w * (n / (3 * math.pi)) ** 2).sum()) - 1 / 2) < 1e-12        # E[u] = 1/2
    assert abs(float((w * (n / (3 * math.pi)) ** 4).sum()) - 1 / 3) < 1e-12        # E[u²] = 1/3


# --- the API: shapes, dtypes, devices, seeds, errors -----------------------------------------------

@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('name', TOY_NAMES)
def test_sample_seeds_dtypes_devices(name, device):
    t = toy(name)
    x = t.sample(1000, seed=0, device=device, dtype=F64)
    assert x.shape == (1000, 2) and x.dtype == F64 and x.device.type == device
    assert torch.equal(x, t.sample(1000, seed=0, device=device, dtype=F64))
    assert not torch.equal(x, t.sample(1000, seed=1, device=device, dtype=F64))
    assert torch.equal(t.sample(1000, seed=0, device=device), x.float())          # float32: the same draws, rounded
    g = torch.Generator(device=device).manual_seed(0)
    assert torch.equal(t.sample(1000, seed=g, device=device, dtype=F64), x)
    assert not torch.equal(t.sample(1000, seed=g, device=device, dtype=F64), x)    # the generator moved on
    assert t.sample(0).shape == (0, 2)
    lp = t.log_prob(x)
    assert lp.device.type == device and torch.isfinite(lp).all()
    if device != 'cpu': assert torch.allclose(lp.cpu(), t.log_prob(x.cpu()), atol=1e-10)


@pytest.mark.parametrize('name', TOY_NAMES)
def test_sample_bad_arguments(name):
    t = toy(name)
    with pytest.raises(ValueError, match='n=-1: expected an integer >= 0'): t.sample(-1)
    with pytest.raises(TypeError, match='n=2.5: expected an integer'): t.sample(2.5)
    with pytest.raises(TypeError, match='expected a floating torch dtype'): t.sample(3, dtype=torch.int64)
    with pytest.raises(TypeError, match="seed='a'"): t.sample(3, seed='a')
    with pytest.raises(ValueError, match="device='tpu'"): t.sample(3, device='tpu')


@pytest.mark.parametrize('name', TOY_NAMES)
def test_log_prob_shapes_and_dtypes(name):
    t = toy(name)
    x = t.sample(12, seed=2, dtype=F64).reshape(3, 4, 2)
    lp = t.log_prob(x)
    assert lp.shape == (3, 4) and lp.dtype == F64
    assert torch.equal(t.log_prob(x.float()), t.log_prob(x.float().double()).float())   # float32 in: float64 inside, float32 out
    assert t.log_prob(x.half()).dtype == torch.float16
    assert torch.allclose(t.log_prob(x.numpy()), lp)                                    # NumPy arrays and lists are welcome
    assert torch.allclose(t.log_prob(x[0].tolist()), lp[0])
    assert t.log_prob(torch.zeros(0, 2)).shape == (0,)
    assert t.log_prob(torch.tensor([1, 0])).dtype == torch.get_default_dtype()         # integers become floats
    inf = t.log_prob(torch.tensor([[math.inf, 0.], [0., -math.inf], [0.3, 0.3]], dtype=F64))
    assert inf[0] == inf[1] == -math.inf and inf[2] > -100
    for bad in (torch.zeros(3), torch.zeros(3, 3), torch.zeros(2, 1), torch.tensor(1.)):
        with pytest.raises(ValueError, match=r'expected points in the plane, shape \(\.\.\., 2\)'): t.log_prob(bad)
    with pytest.raises(ValueError, match='contains NaN'): t.log_prob(torch.tensor([0., math.nan]))
    with pytest.raises(TypeError, match='expected real numbers'): t.log_prob(torch.zeros(2, 2, dtype=torch.complex64))


@pytest.mark.parametrize('name', TOY_NAMES)
def test_log_prob_far_away(name):
    "Finite and very small far from the mass (a flow's stray samples need a value and a gradient)."
    lp = toy(name).log_prob(torch.tensor([[30., -40.], [-60., 0.]], dtype=F64))
    if name == 'checkerboard': assert (lp == -math.inf).all()
    else: assert torch.isfinite(lp).all() and (lp < -1000).all(), lp


@pytest.mark.parametrize('name', SMOOTH)
def test_log_prob_gradient(name):
    "Autograd through log_prob (root search and panel selection included) against central differences."
    t = toy(name)
    x = torch.cat([t.sample(30, seed=3, dtype=F64), _test_points(name, n=10)[:10]]).requires_grad_()
    g, = torch.autograd.grad(t.log_prob(x).sum(), x)
    eps, xd = 1e-6, x.detach()
    fd = torch.stack([(t.log_prob(xd + eps * e) - t.log_prob(xd - eps * e)) / (2 * eps) for e in torch.eye(2, dtype=F64)], -1)
    assert torch.allclose(g, fd, rtol=1e-5, atol=1e-4), (g - fd).abs().max()


def test_checkerboard_gradient_is_zero():
    x = torch.tensor([[0.5, 0.5], [2.5, 0.5]], requires_grad=True)
    toy('checkerboard').log_prob(x)[0].backward()
    assert torch.equal(x.grad, torch.zeros(2, 2))


def test_grid():
    g = toy('rings').grid((30, 20), bounds=((-1., 2.), (0., 1.)))
    assert g.x.shape == (30,) and g.y.shape == (20,) and g.log_prob.shape == (20, 30)
    assert abs(g.cell_area - 0.1 * 0.05) < 1e-15 and abs(float(g.x[0]) + 0.95) < 1e-12 and abs(float(g.y[-1]) - 0.975) < 1e-12
    assert torch.allclose(g.log_prob[3, 7], toy('rings').log_prob(torch.stack([g.x[7], g.y[3]])))   # rows follow y
    with pytest.raises(ValueError, match='nx=0'): toy('rings').grid(0)


# --- blobs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize('anisotropic', [False, True])
@pytest.mark.parametrize('d', [1, 2, 5])
def test_blobs_truth(d, anisotropic):
    n, k = 60_000, 4
    b = blobs(n, k, d=d, seed=11, anisotropic=anisotropic, dtype=F64)
    assert isinstance(b, Blobs)
    assert b.X.shape == (n, d) and b.labels.shape == (n,) and b.labels.dtype == torch.int64
    assert b.weights.shape == (k,) and b.means.shape == (k, d) and b.covariances.shape == (k, d, d)
    assert abs(float(b.weights.sum()) - 1) < 1e-12 and (b.weights > 0).all() and b.weights.max() / b.weights.min() <= 3
    cov = b.covariances
    assert torch.allclose(cov, cov.transpose(-1, -2)) and (torch.linalg.eigvalsh(cov) > 0).all()
    if not anisotropic: assert torch.allclose(cov, cov[:, :1, :1] * torch.eye(d, dtype=F64))
    sd = torch.linalg.eigvalsh(cov).amax(-1).sqrt()
    dist = torch.cdist(b.means, b.means) + torch.eye(k, dtype=F64) * 1e9
    assert (dist >= 3 * (sd[:, None] + sd[None, :]) - 1e-9).all()                      # separation=3
    freq = torch.bincount(b.labels, minlength=k) / n
    assert ((freq - b.weights).abs() < 4 * (b.weights * (1 - b.weights) / n).sqrt()).all()
    for j in range(k):                                                                  # each component is N(mean, cov)
        Xj = b.X[b.labels == j]
        z = torch.linalg.solve_triangular(torch.linalg.cholesky(cov[j]), (Xj - b.means[j]).T, upper=False).T
        assert (z.mean(0).abs() < 5 / math.sqrt(len(Xj))).all()
        assert torch.allclose(torch.cov(z.T).reshape(d, d), torch.eye(d, dtype=F64), atol=6 / math.sqrt(len(Xj)))


def test_blobs_seeds_and_types():
    a, b = blobs(500, 3, seed=1), blobs(500, 3, seed=1)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a.means, blobs(500, 3, seed=2).means)
    assert a.X.dtype == a.weights.dtype == a.means.dtype == a.covariances.dtype == torch.float32
    assert blobs(10, 1).X.shape == (10, 2)
    assert blobs(200, 12, seed=0, separation=4.).means.shape == (12, 2)                   # many well-separated means fit
    assert torch.pdist(blobs(10, 5, seed=0, separation=0.).means).min() > 0.1              # no separation asked: still spread out


def test_blobs_bad_arguments():
    for kw, msg, err in [(dict(n=0, k=2), 'n=0: expected an integer >= 1', ValueError),
                         (dict(n=10, k=0), 'k=0: expected an integer >= 1', ValueError),
                         (dict(n=10, k=2, d=0), 'd=0: expected an integer >= 1', ValueError),
                         (dict(n=10, k=2.5), 'k=2.5: expected an integer', TypeError),
                         (dict(n=10, k=2, separation=-1), 'separation=-1.0: expected a number >= 0', ValueError),
                         (dict(n=10, k=2, scale=0), 'scale=0.0: expected a number > 0', ValueError),
                         (dict(n=10, k=2, anisotropic='yes'), "anisotropic='yes'", TypeError),
                         (dict(n=10, k=2, dtype=torch.int32), 'expected a floating torch dtype', TypeError),
                         (dict(n=10, k=2, seed='x'), "seed='x'", TypeError)]:
        with pytest.raises(err, match=msg): blobs(**kw)


# --- the bundled data sets ------------------------------------------------------------------------

def test_digits_and_iris():
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert X.min() == 0 and X.max() == 16 and torch.equal(y.unique(), torch.arange(10))
    X, y = iris(dtype=F64)
    assert X.shape == (150, 4) and X.dtype == F64 and torch.equal(torch.bincount(y), torch.tensor([50, 50, 50]))
    assert abs(float(X[:, 0].mean()) - 5.8433) < 1e-4                                   # mean sepal length, cm


@pytest.mark.parametrize('fn', [digits, iris])
def test_missing_sklearn_says_how_to_install(fn, monkeypatch):
    monkeypatch.setitem(sys.modules, 'sklearn.datasets', None)
    with pytest.raises(ImportError, match=r'pip install "mlenb\[dev\]" \(or pip install scikit-learn\)'): fn()
