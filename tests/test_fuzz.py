"""Property-based fuzzing of the public API of every engine: one argument bad at a time.

Each *site* is a valid call with one argument replaced by a bad value: a fixed list of classics (NaN, +-inf, 1e300,
1e-300, 2**62, 2**64, negative sizes, str, None, list of str, complex, bool tensors, empty and wrongly shaped arrays)
run as Hypothesis `@example`s, then random ones from Hypothesis. Every case runs under a SIGALRM timeout and is
classified as
- named:   ValueError / TypeError / an mlenb error class whose message names the argument;
- unnamed: any other exception, or one whose message does not name the argument;
- nonfinite: returned NaN or inf (where the output may not hold it) without an error;
- hang:    ran past the timeout (sizes like 2**62 must be refused before any work starts);
- ok:      a valid-but-odd value that gave a finite result.
The site tests only record; `test_fuzz_summary` (last in the file, same xdist group) prints the table (`-s`) and
asserts the issue's "done when": no nonfinite, no hang, fewer than 2% unnamed. MLENB_FUZZ_VERBOSE=1 prints every case
before it runs (to find a case that a hard hang in C code kills by the faulthandler backstop)."""
import atexit, contextlib, dataclasses, faulthandler, io, math, numbers, os, re, signal, sys, tempfile, warnings
from collections import Counter
from collections.abc import Mapping

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import mlenb.decoding as dec
from mlenb.data import blobs, toy
from mlenb.em import GaussianMixture
from mlenb.flows import Flow, Trainer
from mlenb.lm import MarkovLM

pytestmark = pytest.mark.xdist_group('fuzz')   # the site tests and the summary share one worker's RESULTS
torch.set_num_threads(1)

TIMEOUT_S = 5.0        # a case slower than this is a hang
BACKSTOP_S = 60        # a case stuck in C code past this kills the worker, with every thread's traceback
# Where the backstop writes those tracebacks: pytest captures a worker's stderr, and a worker that exits loses it.
# tests/conftest.py prints this file when a worker goes down.
BACKSTOP_LOG = open(os.path.join(tempfile.gettempdir(), f'mlenb-fuzz-backstop-{os.getpid()}.log'), 'w')
atexit.register(lambda: (BACKSTOP_LOG.close(), os.remove(BACKSTOP_LOG.name)))
N_RANDOM = 6           # Hypothesis examples per site, beyond the classics
VERBOSE = os.environ.get('MLENB_FUZZ_VERBOSE') == '1'

# Cases that are known not to satisfy the promise, each with why: (site id, repr of the bad value) -> reason.
# Valid values that start work no SIGALRM can cut short: recorded as known without running.
NOT_RUN = {
    ('flows:Trainer.step:compile', 'True'): "valid: torch.compile builds C++ on a fresh machine (21 s idle, minutes under load) and "
        "ignores the alarm (seen: stuck in inductor's ISA check past the 60 s backstop, which ended the CI worker)",
}
KNOWN = {
    ('flows:Trainer.step:n', repr(2**62)): "n counts optimiser steps: work asked for, not a size to allocate; open: cap it or accept it",
    ('flows:Trainer.step:n', repr(2**64)): "as for 2**62",
    ('em:GaussianMixture.fit:max_iter', '0'): "max_iter=0 runs no iteration, so lower_bound_ stays -inf (scikit-learn refuses 0): open",
}

# --- bad values ----------------------------------------------------------------------------------------------------
nan, inf = math.nan, math.inf
class _Obj:
    def __repr__(self): return '<object>'

CLASSICS = [nan, inf, -inf, 1e300, -1e300, 1e-300, -1.0, 0.5, 0, -1, 2**62, 2**64, -2**63, True, None, 'abc', '', ['a', 'b'],
            1 + 2j, np.float64('nan'), np.int64(-1), torch.tensor(nan), torch.tensor(2**62), _Obj(), [], [[1., 2.], [3.]],
            torch.ones(3, 2, dtype=torch.bool), torch.ones(3, 2, dtype=torch.complex64), torch.zeros(0, 2), torch.zeros(3, 0),
            torch.zeros(0), torch.zeros(2, 3, 4), torch.full((3, 2), nan), torch.full((3, 2), inf),
            torch.full((3, 2), 1e300, dtype=torch.float64), np.full((3, 2), -1e300), torch.full((3, 2), 2**62, dtype=torch.int64),
            [['a', 'b']]]

_floats = st.floats(allow_nan=True, allow_infinity=True)
_arrays = hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4), elements=_floats)
BAD = st.one_of(
    st.sampled_from(CLASSICS), _floats,
    st.integers(max_value=-1), st.integers(min_value=2**62, max_value=2**80),   # never mid-sized counts: those are valid work
    st.text(max_size=4), st.lists(st.text(max_size=3), min_size=1, max_size=3),
    st.complex_numbers(max_magnitude=1e6), st.none(), st.booleans(),
    _arrays, _arrays.map(torch.from_numpy), _arrays.map(lambda a: torch.from_numpy(a).float()),
)

def short(v)->str:
    "A repr that stays short, and says enough to rebuild the value."
    if isinstance(v, Tensor := torch.Tensor): return f"torch.tensor(shape={tuple(v.shape)}, dtype={v.dtype}, values={v.flatten()[:4].tolist()})"
    if isinstance(v, np.ndarray): return f"np.array(shape={v.shape}, dtype={v.dtype}, values={v.flatten()[:4].tolist()})"
    r = repr(v)
    return r if len(r) < 120 else r[:117] + '...'

# --- fixtures shared by the sites (never mutated by a case) ----------------------------------------------------------
X = blobs(60, 2, seed=0).X
GM = dict(n_components=2, max_iter=5, random_state=0, progress=False)
def gm(**kw): return GaussianMixture(**{**GM, **kw})
FITTED = gm().fit(X)
X2 = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
REALNVP = dict(dim=2, layers=2, hidden=8, seed=0)
MAF = dict(dim=2, layers=2, hidden=8, seed=0)
NSF = dict(dim=2, layers=2, hidden=8, bins=4, seed=0)
FLOW, SPLINE = Flow.realnvp(**REALNVP), Flow.nsf(**NSF)
def trainer(**kw):
    kw = {'flow': Flow.realnvp(**REALNVP), 'target': 'moons', 'batch_size': 64, 'val_size': 256, 'pool': 2, 'grid_every': 0,
          'progress': False, **kw}
    return Trainer(**kw)
trainer().step(1)   # warm-up outside any timeout: the first Trainer imports torch._dynamo (fused Adam) and computes the toy's entropy
LM = MarkovLM.random(5, seed=0)
LOGITS = torch.randn(2, 6, generator=torch.Generator().manual_seed(2))
HYPS = ['the cat sat', 'a cat sat', 'the dog ran', 'the cat sat']
LM_KW = dict(max_new_tokens=8)

# --- sites ---------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Site:
    engine:str
    call:str                 # how the valid call reads, with {arg}=BAD in it
    arg:str                  # the argument made bad
    fn:object                # bad value -> output
    allow:frozenset = frozenset()   # non-finite values the output may hold: '-inf' (log-densities, masked logits), '+inf'
    def __str__(self):
        head = self.call
        while '(' in head: head = re.sub(r'\([^()]*\)', '', head)
        return f"{self.engine}:{head.split()[0]}:{self.arg}"

SITES = []
def site(engine, call, arg, fn, allow=()): SITES.append(Site(engine, call, arg, fn, frozenset(allow)))

# EM: constructor (then fit, or partial_fit for the online knobs), and every method
for a in ('n_components', 'covariance_type', 'tol', 'reg_covar', 'max_iter', 'n_init', 'init_params', 'weights_init', 'means_init',
          'precisions_init', 'random_state', 'warm_start', 'verbose', 'verbose_interval', 'device', 'dtype', 'progress', 'missing',
          'distributed'):
    site('em', f"GaussianMixture(2, max_iter=5, random_state=0, progress=False, {a}=BAD).fit(X)", a, lambda b, a=a: gm(**{a: b}).fit(X))
for a in ('learning_decay', 'learning_offset', 'average'):
    site('em', f"GaussianMixture(2, ..., {a}=BAD).partial_fit(X).partial_fit(X)", a, lambda b, a=a: gm(**{a: b}).partial_fit(X).partial_fit(X))
site('em', "gm().fit(X=BAD)", 'X', lambda b: gm().fit(b))
site('em', "gm().fit(X, sample_weight=BAD)", 'sample_weight', lambda b: gm().fit(X, sample_weight=b))
site('em', "gm().partial_fit(X=BAD)", 'X', lambda b: gm().partial_fit(b))
site('em', "gm().partial_fit(X, sample_weight=BAD)", 'sample_weight', lambda b: gm().partial_fit(X, sample_weight=b))
site('em', "fitted.partial_fit(X=BAD)", 'X', lambda b: gm().fit(X).partial_fit(b))
for m in ('predict', 'predict_proba'): site('em', f"fitted.{m}(X=BAD)", 'X', lambda b, m=m: getattr(FITTED, m)(b))
site('em', "fitted.score_samples(X=BAD)", 'X', lambda b: FITTED.score_samples(b), allow=('-inf',))
site('em', "fitted.score(X=BAD)", 'X', lambda b: FITTED.score(b), allow=('-inf',))
site('em', "fitted.score(X, sample_weight=BAD)", 'sample_weight', lambda b: FITTED.score(X, sample_weight=b), allow=('-inf',))
site('em', "fitted.bic(X=BAD)", 'X', lambda b: FITTED.bic(b), allow=('+inf',))
site('em', "fitted.sample(n_samples=BAD)", 'n_samples', lambda b: FITTED.sample(b))
site('em', "fitted.sample(4, seed=BAD)", 'seed', lambda b: FITTED.sample(4, seed=b))

# flows: the three constructors (then log_prob), log_prob, sample, initialize, Trainer and its step
for name, base, args in (('realnvp', REALNVP, ('dim', 'layers', 'hidden', 'activation', 'mask', 'base', 'seed')),
                         ('maf', MAF, ('dim', 'layers', 'hidden', 'activation', 'base', 'seed')),
                         ('nsf', NSF, ('dim', 'layers', 'hidden', 'bins', 'bound', 'activation', 'actnorm', 'autoregressive', 'mask', 'base', 'seed'))):
    for a in args:
        def build(b, name=name, base=base, a=a):
            f = getattr(Flow, name)(**{**base, a: b})
            return f, f.log_prob(torch.randn(8, f.dim, generator=torch.Generator().manual_seed(3)))
        site('flows', f"Flow.{name}({base}, {a}=BAD).log_prob(x)", a, build, allow=('-inf',))
site('flows', "Flow.realnvp(...).log_prob(x=BAD)", 'x', lambda b: FLOW.log_prob(b), allow=('-inf',))
site('flows', "Flow.nsf(...).log_prob(x=BAD)", 'x', lambda b: SPLINE.log_prob(b), allow=('-inf',))
site('flows', "Flow.realnvp(...).sample(sample_shape=BAD)", 'sample_shape', lambda b: FLOW.sample(b))
site('flows', "Flow.realnvp(...).sample(4, seed=BAD)", 'seed', lambda b: FLOW.sample(4, seed=b))
site('flows', "Flow.nsf(...).initialize(x=BAD)", 'x', lambda b: Flow.nsf(**NSF).initialize(b))
def train_one(b, a):
    tr = trainer(**{a: b})
    snap = tr.step(1)
    return tr.flow, snap['loss'], snap['grad_norm']
for a in ('flow', 'target', 'objective', 'lr', 'batch_size', 'schedule', 'total_steps', 'seed', 'device', 'val_size', 'eval_every',
          'grid_every', 'grid_size', 'patience', 'min_delta', 'clip_grad', 'weight_decay', 'sigma', 'progress', 'cuda_graph',
          'compile', 'pool', 'dequantize', 'max_rise'):
    site('flows', f"Trainer(realnvp, 'moons', batch_size=64, val_size=256, pool=2, grid_every=0, {a}=BAD).step(1)", a,
         lambda b, a=a: train_one(b, a))
site('flows', "Trainer(...).step(n=BAD)", 'n', lambda b: trainer().step(b)['loss'])

# decoding: every logits processor, greedy, beam, sample, MBR and its utilities
for f, knob in ((dec.top_k_filter, 'top_k'), (dec.top_p_filter, 'top_p'), (dec.min_p_filter, 'min_p'),
                (dec.typical_filter, 'typical_p'), (dec.epsilon_filter, 'epsilon_cutoff')):
    ok = {'top_k': 2, 'top_p': .5, 'min_p': .2, 'typical_p': .5, 'epsilon_cutoff': .1}[knob]
    site('decoding', f"{f.__name__}(logits=BAD, {ok})", 'logits', lambda b, f=f, ok=ok: f(b, ok), allow=('-inf',))
    site('decoding', f"{f.__name__}(logits, {knob}=BAD)", knob, lambda b, f=f: f(LOGITS, b), allow=('-inf',))
    site('decoding', f"{f.__name__}(logits, {ok}, min_tokens_to_keep=BAD)", 'min_tokens_to_keep',
         lambda b, f=f, ok=ok: f(LOGITS, ok, b), allow=('-inf',))
site('decoding', "temperature_scale(logits=BAD, 0.7)", 'logits', lambda b: dec.temperature_scale(b, .7), allow=('-inf',))
site('decoding', "temperature_scale(logits, temperature=BAD)", 'temperature', lambda b: dec.temperature_scale(LOGITS, b), allow=('-inf',))
site('decoding', "process_logits(logits=BAD, top_k=3)", 'logits', lambda b: dec.process_logits(b, top_k=3), allow=('-inf',))
for a in ('temperature', 'top_k', 'top_p', 'min_p', 'typical_p', 'epsilon_cutoff', 'min_tokens_to_keep'):
    site('decoding', f"process_logits(logits, {a}=BAD)", a, lambda b, a=a: dec.process_logits(LOGITS, **{a: b}), allow=('-inf',))
GREEDY, BEAM = dict(lm=LM, **LM_KW), dict(lm=LM, num_beams=3, **LM_KW)
for a in ('lm', 'prompt', 'max_new_tokens'):
    site('decoding', f"greedy(MarkovLM.random(5), max_new_tokens=8, {a}=BAD)", a, lambda b, a=a: dec.greedy(**{**GREEDY, a: b}))
for a in ('lm', 'prompt', 'num_beams', 'max_new_tokens', 'length_penalty', 'early_stopping', 'num_return_sequences', 'record_tree'):
    site('decoding', f"beam_search(MarkovLM.random(5), num_beams=3, max_new_tokens=8, {a}=BAD)", a,
         lambda b, a=a: dec.beam_search(**{**BEAM, a: b}))
SAMPLE = dict(lm=LM, num_samples=4, seed=0, **LM_KW)
for a in ('lm', 'prompt', 'num_samples', 'max_new_tokens', 'seed', 'temperature', 'top_k', 'top_p', 'min_p', 'typical_p',
          'epsilon_cutoff', 'min_tokens_to_keep'):
    site('decoding', f"sample(MarkovLM.random(5), num_samples=4, seed=0, max_new_tokens=8, {a}=BAD)", a,
         lambda b, a=a: dec.sample(**{**SAMPLE, a: b}))
for method, args in (('exact', ('hyps', 'refs', 'weights', 'utility', 'device')), ('aggregate', ('num_groups', 'utility')),
                     ('prune', ('schedule', 'alpha', 'num_bootstrap', 'seed', 'utility'))):
    for a in args:
        site('decoding', f"mbr_select.{method}(hyps, method={method!r}, {a}=BAD)", a,
             lambda b, a=a, method=method: dec.mbr_select(**{'hyps': HYPS, 'method': method, a: b}))
site('decoding', "mbr_select(hyps, method=BAD)", 'method', lambda b: dec.mbr_select(HYPS, method=b))
for a in ('hyps', 'refs', 'char_order', 'beta', 'device'):
    site('decoding', f"chrf_matrix(hyps, {a}=BAD)", a, lambda b, a=a: dec.chrf_matrix(**{'hyps': HYPS, a: b}))
for a in ('hyps', 'refs', 'max_ngram_order', 'device'):
    site('decoding', f"bleu_matrix(hyps, {a}=BAD)", a, lambda b, a=a: dec.bleu_matrix(**{'hyps': HYPS, a: b}))

# lm: MarkovLM.random and the constructor
for a in ('vocab_size', 'order', 'sparsity', 'seed', 'scale', 'eos_weight', 'device'):
    site('lm', f"MarkovLM.random(vocab_size=5, seed=0, {a}=BAD)", a,
         lambda b, a=a: MarkovLM.random(**{'vocab_size': 5, 'seed': 0, a: b}).log_probs, allow=('-inf',))
for a in ('vocab', 'log_probs', 'order', 'device'):
    site('lm', f"MarkovLM(lm.vocab, lm.log_probs, order=2, {a}=BAD)", a,
         lambda b, a=a: MarkovLM(**{'vocab': LM.vocab, 'log_probs': LM.log_probs, 'order': 2, a: b}).log_probs, allow=('-inf',))

# data: toy (and its sample and log_prob), blobs
site('data', "toy(name=BAD)", 'name', lambda b: toy(b))
for a in ('n', 'seed', 'device', 'dtype'):
    site('data', f"toy('moons').sample(n=10, seed=0, {a}=BAD)", a, lambda b, a=a: toy('moons').sample(**{'n': 10, 'seed': 0, a: b}))
site('data', "toy('rings').log_prob(x=BAD)", 'x', lambda b: toy('rings').log_prob(b), allow=('-inf',))
for a in ('n', 'k', 'd', 'seed', 'anisotropic', 'separation', 'scale', 'device', 'dtype'):
    site('data', f"blobs(n=20, k=2, d=2, seed=0, {a}=BAD)", a, lambda b, a=a: blobs(**{'n': 20, 'k': 2, 'd': 2, 'seed': 0, a: b}))

# --- running and classifying one case --------------------------------------------------------------------------------
class Hang(BaseException): "A case ran past TIMEOUT_S (a BaseException, so that no `except Exception` in the library swallows it)."

def _alarm(signum, frame): raise Hang()

def nonfinite(out, allow:frozenset, depth:int=0)->str|None:
    "Where `out` holds NaN, or an inf that `allow` does not let through; None when all is finite."
    if depth > 6: return None
    def bad_in(t:torch.Tensor)->str|None:
        if not (t.is_floating_point() or t.is_complex()) or t.numel() == 0: return None
        t = t.detach()
        if t.isnan().any(): return 'NaN'
        if '+inf' not in allow and (t == inf).any(): return '+inf'
        if '-inf' not in allow and (t == -inf).any(): return '-inf'
        return None
    if isinstance(out, torch.Tensor): return bad_in(out)
    if isinstance(out, np.ndarray) and out.dtype.kind in 'fc': return bad_in(torch.from_numpy(np.asarray(out, dtype=np.complex128 if out.dtype.kind == 'c' else np.float64)))
    if isinstance(out, numbers.Real) and not isinstance(out, bool): return bad_in(torch.tensor(float(out), dtype=torch.float64))
    if isinstance(out, GaussianMixture):
        return nonfinite([getattr(out, k, None) for k in ('weights_', 'means_', 'covariances_', 'precisions_cholesky_', 'lower_bound_')], allow, depth + 1)
    if isinstance(out, torch.nn.Module): return nonfinite(list(out.parameters()) + list(out.buffers()), allow, depth + 1)
    if isinstance(out, dec.Decoded): return nonfinite([out.logprobs, out.scores], frozenset({'-inf'}) | allow, depth + 1)
    if isinstance(out, dec.MBRResult): return nonfinite(out.expected_utility, allow, depth + 1)
    if dataclasses.is_dataclass(out) and not isinstance(out, type): return nonfinite(list(dataclasses.asdict(out).values()), allow, depth + 1)
    if isinstance(out, Mapping): out = list(out.values())
    if isinstance(out, (list, tuple)):
        for v in out[:1000]:
            r = nonfinite(v, allow, depth + 1)
            if r: return r
    return None

def names_arg(e:BaseException, arg:str)->bool:
    return arg in str(e)

def classify(s:Site, bad)->tuple[str, str]:
    "Run one case: (outcome, detail)."
    old = signal.signal(signal.SIGALRM, _alarm)
    BACKSTOP_LOG.seek(0); BACKSTOP_LOG.truncate()
    print(f"backstop after {BACKSTOP_S} s in {s}: {s.call.replace('BAD', short(bad))}", file=BACKSTOP_LOG, flush=True)
    faulthandler.dump_traceback_later(BACKSTOP_S, exit=True, file=BACKSTOP_LOG)
    if VERBOSE: print(f"[fuzz] {s} {short(bad)}", file=sys.__stderr__, flush=True)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter('ignore')
            signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
            try: out = s.fn(bad)
            finally: signal.setitimer(signal.ITIMER_REAL, 0)
    except Hang: return 'hang', f"ran past {TIMEOUT_S:g} s"
    except Exception as e:
        named_class = isinstance(e, (ValueError, TypeError)) or type(e).__module__.startswith('mlenb')
        msg = f"{type(e).__name__}: {str(e)[:300]}"
        return ('named' if named_class and names_arg(e, s.arg) else 'unnamed'), msg
    finally:
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, old)
    where = nonfinite(out, s.allow)
    return ('nonfinite', f"returned {where}") if where else ('ok', '')

RESULTS = []   # (site, repr of the bad value, outcome, detail)

def run_case(s:Site, bad):
    why = NOT_RUN.get((str(s), short(bad)))
    outcome, detail = ('known', f"not run: {why}") if why else classify(s, bad)
    RESULTS.append((s, short(bad), outcome, detail))

# --- the tests -------------------------------------------------------------------------------------------------------
def _fuzz(s:Site, bad): run_case(s, bad)
for v in reversed(CLASSICS): _fuzz = example(bad=v)(_fuzz)
_fuzz = settings(derandomize=True, max_examples=N_RANDOM, deadline=None, database=None, suppress_health_check=list(HealthCheck))(
    given(bad=BAD)(_fuzz))

@pytest.mark.parametrize('s', SITES, ids=str)
def test_fuzz_site(s):
    "Record every case of site `s`; `test_fuzz_summary` judges them."
    _fuzz(s)

def test_sites_cover_every_engine():
    assert {s.engine for s in SITES} == {'em', 'flows', 'decoding', 'lm', 'data'}
    assert len({str(s) for s in SITES}) == len(SITES), "site ids must be unique"

OUTCOMES = ('named', 'ok', 'unnamed', 'nonfinite', 'hang', 'known')

def test_fuzz_summary():
    "The issue's promise over all cases: no silent NaN/inf, no hang, under 2% unnamed errors."
    if not RESULTS: pytest.skip("no site test ran in this worker")
    rows = []
    for s, bad, outcome, detail in RESULTS:
        if outcome in ('unnamed', 'nonfinite', 'hang') and (str(s), bad) in KNOWN: outcome = 'known'
        rows.append((s, bad, outcome, detail))
    counts = Counter((s.engine, o) for s, _, o, _ in rows)
    engines = sorted({s.engine for s, *_ in rows})
    lines = [f"{'engine':<10}" + ''.join(f"{o:>10}" for o in OUTCOMES) + f"{'cases':>10}"]
    for e in engines + ['all']:
        c = {o: sum(n for (en, oo), n in counts.items() if oo == o and e in (en, 'all')) for o in OUTCOMES}
        lines.append(f"{e:<10}" + ''.join(f"{c[o]:>10}" for o in OUTCOMES) + f"{sum(c.values()):>10}")
    print('\nfuzz outcomes per engine\n' + '\n'.join(lines))
    bad = [r for r in rows if r[2] in ('unnamed', 'nonfinite', 'hang')]
    for s, b, o, d in bad: print(f"  {o:<9} {s}  {s.call.replace('BAD', b)}  ->  {d}")
    n = len(rows)
    worst = {o: [f"{s.call.replace('BAD', b)} -> {d}" for s, b, oo, d in rows if oo == o] for o in ('nonfinite', 'hang', 'unnamed')}
    assert not worst['nonfinite'], f"{len(worst['nonfinite'])} silent NaN/inf:\n" + '\n'.join(worst['nonfinite'][:40])
    assert not worst['hang'], f"{len(worst['hang'])} hangs:\n" + '\n'.join(worst['hang'][:40])
    assert len(worst['unnamed']) < 0.02 * n, f"{len(worst['unnamed'])} of {n} errors do not name their argument:\n" + '\n'.join(worst['unnamed'][:60])
