"""The logits processors of `mlenb.decoding` against their Hugging Face counterparts, token for token.

Each processor must equal the transformers logits warper of the same name on random logits: the same
tokens kept, the same values, -inf elsewhere, for every knob tried, with ties and -inf entries in the
logits, and with `min_tokens_to_keep`. transformers is a test-only dependency (the extra `mlenb[hf]`)."""
import math

import pytest
import torch

from mlenb.decoding import (temperature_scale, top_k_filter, top_p_filter, typical_filter, min_p_filter, epsilon_filter,
                            process_logits)

tlp = pytest.importorskip('transformers.generation.logits_process')


def logits_cases():
    "Random logits of a few kinds: smooth, peaky, with many ties, with -inf entries, one very large vocabulary row."
    g = torch.Generator().manual_seed(0)
    smooth = torch.randn(16, 50, generator=g)
    peaky = 4 * torch.randn(16, 50, generator=g)
    ties = torch.randint(-3, 3, (16, 50), generator=g).float()         # many exact ties
    masked = torch.randn(16, 50, generator=g).masked_fill(torch.rand(16, 50, generator=g) < 0.3, -math.inf)
    wide = torch.randn(2, 5000, generator=g)
    return dict(smooth=smooth, peaky=peaky, ties=ties, masked=masked, wide=wide)

CASES = logits_cases()


def same(a, b):
    "Token for token: the same entries kept, with the same values."
    assert torch.equal(a.isfinite(), b.isfinite()), f"kept differ in {(a.isfinite() != b.isfinite()).sum().item()} entries"
    assert torch.equal(a[a.isfinite()], b[b.isfinite()])


def ids(x): return torch.zeros(x.shape[0], 1, dtype=torch.long)


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('temperature', [0.3, 1.0, 2.5])
def test_temperature(case, temperature):
    x = CASES[case]
    same(temperature_scale(x, temperature), tlp.TemperatureLogitsWarper(temperature)(ids(x), x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('top_k', [1, 2, 5, 49, 50, 80])
@pytest.mark.parametrize('keep', [1, 3])
def test_top_k(case, top_k, keep):
    x = CASES[case]
    same(top_k_filter(x, top_k, keep), tlp.TopKLogitsWarper(top_k, min_tokens_to_keep=keep)(ids(x), x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('top_p', [0.01, 0.3, 0.5, 0.9, 0.999, 1.0])
@pytest.mark.parametrize('keep', [1, 3])
def test_top_p(case, top_p, keep):
    x = CASES[case]
    same(top_p_filter(x, top_p, keep), tlp.TopPLogitsWarper(top_p, min_tokens_to_keep=keep)(ids(x), x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('typical_p', [0.01, 0.2, 0.5, 0.9, 0.99])
@pytest.mark.parametrize('keep', [1, 3])
def test_typical(case, typical_p, keep):
    x = CASES[case]
    same(typical_filter(x, typical_p, keep), tlp.TypicalLogitsWarper(typical_p, min_tokens_to_keep=keep)(ids(x), x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('min_p', [0.0, 0.01, 0.1, 0.5, 1.0])
@pytest.mark.parametrize('keep', [1, 3])
def test_min_p(case, min_p, keep):
    x = CASES[case]
    same(min_p_filter(x, min_p, keep), tlp.MinPLogitsWarper(min_p, min_tokens_to_keep=keep)(ids(x), x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('eps', [1e-4, 0.01, 0.05, 0.3, 0.9])
@pytest.mark.parametrize('keep', [1, 3])
def test_epsilon(case, eps, keep):
    x = CASES[case]
    same(epsilon_filter(x, eps, keep), tlp.EpsilonLogitsWarper(eps, min_tokens_to_keep=keep)(ids(x), x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('knobs', [dict(temperature=0.7, top_k=10, top_p=0.9), dict(top_p=0.8, min_p=0.05), dict(typical_p=0.9, epsilon_cutoff=0.01),
                                   dict(temperature=1.5, top_k=20, top_p=0.95, min_p=0.02, typical_p=0.95, epsilon_cutoff=0.001)])
def test_chain_in_generate_order(case, knobs):
    "process_logits applies the warpers in the order of transformers' generate: temperature, top-k, top-p, min-p, typical, epsilon."
    x = CASES[case]
    chain = []
    if knobs.get('temperature', 1.0) != 1.0: chain.append(tlp.TemperatureLogitsWarper(knobs['temperature']))
    if knobs.get('top_k', 0): chain.append(tlp.TopKLogitsWarper(knobs['top_k']))
    if knobs.get('top_p', 1.0) < 1.0: chain.append(tlp.TopPLogitsWarper(knobs['top_p']))
    if knobs.get('min_p'): chain.append(tlp.MinPLogitsWarper(knobs['min_p']))
    if knobs.get('typical_p', 1.0) < 1.0: chain.append(tlp.TypicalLogitsWarper(knobs['typical_p']))
    if knobs.get('epsilon_cutoff'): chain.append(tlp.EpsilonLogitsWarper(knobs['epsilon_cutoff']))
    want = tlp.LogitsProcessorList(chain)(ids(x), x.clone())
    same(process_logits(x, **knobs), want)


def test_shift_invariance():
    "Log-probabilities and logits give the same cuts (all processors are invariant to adding a constant)."
    x = CASES['smooth']
    for f, v in [(top_k_filter, 5), (top_p_filter, 0.7), (typical_filter, 0.7), (min_p_filter, 0.1), (epsilon_filter, 0.02)]:
        assert torch.equal(f(x, v).isfinite(), f(x.log_softmax(-1), v).isfinite())


def test_any_leading_shape():
    "Processors take (..., V): a 3-D batch equals row by row."
    x = torch.randn(3, 4, 30, generator=torch.Generator().manual_seed(1))
    for f, v in [(top_k_filter, 5), (top_p_filter, 0.7), (typical_filter, 0.7), (min_p_filter, 0.1), (epsilon_filter, 0.02)]:
        same(f(x, v).view(12, 30), f(x.view(12, 30), v))


@pytest.mark.parametrize('call, arg', [
    (lambda x: temperature_scale(x, 0.), 'temperature=0.0'), (lambda x: temperature_scale(x, -1), 'temperature=-1.0'),
    (lambda x: top_k_filter(x, -1), 'top_k=-1'), (lambda x: top_k_filter(x, 2.5), 'top_k=2.5'),
    (lambda x: top_p_filter(x, 0.), 'top_p=0.0'), (lambda x: top_p_filter(x, 1.01), 'top_p=1.01'),
    (lambda x: typical_filter(x, 0.), 'typical_p=0.0'), (lambda x: min_p_filter(x, -0.1), 'min_p=-0.1'),
    (lambda x: epsilon_filter(x, 1.), 'epsilon_cutoff=1.0'), (lambda x: top_p_filter(x, 0.5, 0), 'min_tokens_to_keep=0')])
def test_bad_knobs(call, arg):
    with pytest.raises((ValueError, TypeError), match=arg.replace('.', r'\.')): call(CASES['smooth'])
