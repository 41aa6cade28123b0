"Core: devices, seeds, argument checks and Trace, beyond the notebook's examples."
import math, pickle
import numpy as np, pytest, torch
from hypothesis import given, settings, strategies as st
from mlenb.core import *


def test_auto_device_is_available():
    dev = resolve_device('auto')
    torch.zeros(1, device=dev)  # can be used at once
    assert resolve_device(None) == dev


@pytest.mark.parametrize('bad', ['gpu', 'cuda:x', '', 'cpu:0:1'])
def test_bad_device_names_the_argument(bad):
    with pytest.raises(ValueError, match='device='):
        resolve_device(bad)


def test_generator_device_mismatch_is_refused():
    g = torch.Generator()
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match='generator on cpu'):
            make_generator(g, device='cuda')
    assert make_generator(g, device='cpu') is g


def test_seed_none_gives_fresh_entropy():
    a = torch.rand(4, generator=make_generator(None))
    b = torch.rand(4, generator=make_generator(None))
    assert not torch.equal(a, b)


def test_seed_everything_reproduces_global_draws():
    seed_everything(3); a = (torch.rand(2), np.random.rand(2))
    seed_everything(3); b = (torch.rand(2), np.random.rand(2))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match='seed=-1'):
        seed_everything(-1)


@given(st.integers(-5, 5), st.integers(-5, 5))
def test_check_int_bounds(v, low):
    if v < low:
        with pytest.raises(ValueError, match=f'x={v}'): check_int('x', v, low=low)
    else: assert check_int('x', v, low=low) == v


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_float_refuses_non_finite(v):
    if math.isfinite(v): assert check_float('x', v) == v
    else:
        with pytest.raises(ValueError, match='finite'): check_float('x', v)


@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.int64, np.int32, np.uint8])
def test_as_tensor_keeps_float_dtypes_and_promotes_ints(dtype):
    t = as_tensor(np.ones((3, 2), dtype=dtype))
    expected = torch.float64 if dtype == np.float64 else torch.float32
    assert t.dtype == expected and t.shape == (3, 2)


def test_as_tensor_does_not_alias_or_track_gradients():
    x = torch.ones(2, 2, requires_grad=True)
    t = as_tensor(x)
    assert not t.requires_grad


@pytest.mark.parametrize('X,msg', [([[1.]], None), (np.ones((1, 2)), None), (np.ones((2, 2, 2)), '2-D'),
                                    ([[1, 2], [3]], 'array of numbers'), (np.array([[1 + 1j]]), 'real numbers')])
def test_as_tensor_shapes_and_types(X, msg):
    if msg is None: as_tensor(X)
    else:
        with pytest.raises((TypeError, ValueError), match=msg): as_tensor(X)


def test_as_tensor_min_rows():
    with pytest.raises(ValueError, match='at least 2 row'):
        as_tensor([[1., 2.]], min_rows=2)


def test_snapshot_pickles_and_stays_immutable():
    s = Snapshot(step=1, means=torch.arange(4.).reshape(2, 2), info={'k': [1, 2]})
    s2 = pickle.loads(pickle.dumps(s))
    assert torch.equal(s2.means, s.means) and s2.info['k'] == (1, 2)
    with pytest.raises(TypeError):
        s.info['k'] = 3  # nested mappings are read-only too


def test_snapshot_numpy_fields_are_read_only():
    a = np.zeros(3)
    s = Snapshot(a=a)
    a[0] = 1
    assert s.a[0] == 0
    with pytest.raises(ValueError):
        s.a[0] = 2


def test_trace_thin_is_even_and_keeps_ends():
    tr = Trace(Snapshot(step=i) for i in range(101))
    idx = tr.thin(11)
    assert idx == list(range(0, 101, 10))
    assert tr.thin(2) == [0, 100]


def test_trace_series_fills_missing_fields():
    tr = Trace([Snapshot(loglik=1.), Snapshot(other=2), Snapshot(loglik=torch.tensor(3.))])
    s = tr.series('loglik')
    assert s[0] == 1 and math.isnan(s[1]) and s[2] == 3


def test_trace_slicing_and_errors():
    tr = Trace(Snapshot(step=i) for i in range(5))
    assert isinstance(tr[1:3], Trace) and [s.step for s in tr[1:3]] == [1, 2]
    with pytest.raises(TypeError):
        Trace([{'step': 0}])
    empty = Trace()
    with pytest.raises(IndexError, match='empty'):
        empty.current
    with pytest.raises(ValueError, match='empty'):
        empty.cursor = 0
    with pytest.raises(TypeError, match='not both'):
        tr.append(Snapshot(step=9), step=9)


# ---- seeds: one check, named, for every engine ------------------------------------------------------------
@given(st.integers(-2**65, 2**65))
def test_check_seed_accepts_exactly_0_to_2_63(v):
    if 0 <= v < 2**63: assert check_seed('seed', v) == v
    else:
        with pytest.raises(ValueError, match=f'random_state={v}: expected an integer in \\[0, {2**63 - 1}\\]'):
            check_seed('random_state', v)


@pytest.mark.parametrize('seed,err', [(2**64, ValueError), (2**63, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_make_generator_names_the_seed_argument(seed, err):
    with pytest.raises(err, match=f'my_seed={seed!r}: expected an integer'):
        make_generator(seed, name='my_seed')


def test_largest_seed_makes_a_generator():
    assert torch.rand(1, generator=make_generator(2**63 - 1)).shape == (1,)
    with pytest.raises(ValueError, match='seed=18446744073709551616'):
        seed_everything(2**64)


# ---- as_tensor: one finiteness check for every input type -------------------------------------------------
INPUT_TYPES = {'list': lambda a: a.tolist(), 'numpy': lambda a: a, 'tensor': torch.from_numpy}


@pytest.mark.parametrize('kind', INPUT_TYPES)
@pytest.mark.parametrize('bad,match', [(np.inf, r'data: contains inf at index \(1, 0\)'), (-np.inf, 'data: contains inf'),
                                       (np.nan, r'data: contains NaN at index \(1, 0\)')])
def test_as_tensor_refuses_non_finite_whatever_the_type(kind, bad, match):
    X = INPUT_TYPES[kind](np.array([[0., 1.], [bad, 2.]]))
    with pytest.raises(ValueError, match=match):
        as_tensor(X, name='data')


@pytest.mark.parametrize('kind', INPUT_TYPES)
@pytest.mark.parametrize('value,dtype', [(1e300, torch.float32), (-1e300, torch.float32), (1e5, torch.float16)])
def test_as_tensor_refuses_numbers_that_overflow_the_dtype(kind, value, dtype):
    X = INPUT_TYPES[kind](np.array([[0., value]]))
    name = str(dtype).removeprefix('torch.')
    with pytest.raises(ValueError, match=rf'x: {value:g} at index \(0, 1\) .* overflows {name}'.replace('+', r'\+')):
        as_tensor(X, name='x', dtype=dtype)


def test_as_tensor_refuses_integers_that_overflow_half_precision():
    with pytest.raises(ValueError, match='overflows float16'):
        as_tensor(torch.tensor([[70000]]), dtype=torch.float16)


def test_as_tensor_keeps_the_graph_when_asked_and_allows_empty_batches():
    x = torch.ones(2, 2, requires_grad=True)
    as_tensor(x, detach=False).sum().backward()
    assert torch.equal(x.grad, torch.ones(2, 2))
    assert as_tensor(torch.zeros(0, 3), min_rows=0).shape == (0, 3)


# ---- sizes ----------------------------------------------------------------------------------------------
def test_check_memory_refuses_more_than_the_machine_holds():
    have = memory_bytes('cpu')
    assert check_memory('n=1', have) == have
    with pytest.raises(ValueError, match=r'n=2: expected sizes that fit in memory; they need about .* more than the .* of cpu'):
        check_memory('n=2', have + 1)
