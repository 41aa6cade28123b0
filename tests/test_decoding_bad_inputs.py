"""Bad input to `mlenb.decoding` and `mlenb.lm`, refused by name, before torch sees it.

Every logits processor and `process_logits` refuse NaN and +inf (-inf is a masked token and passes), convert lists,
arrays and integers, and refuse what is not real numbers. Every decision rule names the step and the prefix where
a model gives NaN, +inf or no finite next-token log-probability. MBR refuses a utility that returns NaN. Sizes that
would hang are refused before any work. Every function with `seed=` refuses a seed that torch cannot take."""
import math, re, time

import numpy as np
import pytest
import torch

from mlenb.lm import LanguageModel, MarkovLM, TabularLM, Vocab, ToyTranslation, TransformerLM, GRULM, generate, kl_divergence
from mlenb.decoding import (PROCESSORS, RULE_KINDS, RULE_PRESETS, MAX_NGRAM_ORDER, temperature_scale, process_logits,
                            next_token_view, beam_search, sample, decode, mbr_select, mbr_decode, compare_rules,
                            analyze_prompt, chrf_matrix, bleu_matrix, self_bleu, edit_similarity_matrix, exact_match_matrix,
                            utility_matrix, distinct_n, repetition_rate, zipf_coefficient, diversity)


P = MarkovLM.random(6, seed=0, eos_weight=0.01)       # long outputs: every rule reaches step 3
TEXTS = ['the cat sat', 'a cat sat on the mat', 'the dog', '']

# ---------------------------------------------------------------- logits processors
KNOB = dict(temperature=0.7, top_k=2, top_p=0.9, min_p=0.1, typical_p=0.9, epsilon_cutoff=0.05, eta_cutoff=0.05)   # one cutting value each
FILTERS = [name for name, _, _ in PROCESSORS] + ['process_logits']


def apply(name, logits):
    "The processor called `name` (or the whole chain) at its cutting value."
    if name == 'process_logits': return process_logits(logits, **KNOB)
    return {n: f for n, f, _ in PROCESSORS}[name](logits, KNOB[name])


def test_every_processor_is_covered():
    assert set(KNOB) == {name for name, _, _ in PROCESSORS}


@pytest.mark.parametrize('name', FILTERS)
@pytest.mark.parametrize('bad, what', [(math.nan, 'NaN'), (math.inf, r'\+inf')])
def test_processors_refuse_nan_and_plus_inf(name, bad, what):
    "top_p_filter(torch.tensor([[0., nan, 1.]]), .9) used to hand the NaN on to the sampler."
    x = torch.tensor([[0., 2., 1.], [0., bad, 1.]])
    with pytest.raises(ValueError, match=rf"logits: contains {what} at index \(1, 1\) \(1 entry in all\); expected finite numbers, or -inf"):
        apply(name, x)


@pytest.mark.parametrize('name', FILTERS)
def test_processors_let_minus_inf_through(name):
    "-inf is a masked token; a row that is all -inf (a finished row of a tabular model) stays all -inf."
    x = torch.tensor([[0., -math.inf, 1., 0.5], [-math.inf] * 4])
    out = apply(name, x)
    assert torch.isneginf(out[:, 1]).all() and torch.isneginf(out[1]).all() and out[0].isfinite().any() and not out.isnan().any()


@pytest.mark.parametrize('name', FILTERS)
@pytest.mark.parametrize('kind', ['list', 'float64 array', 'float32 array', 'int tensor', 'int list'])
def test_processors_convert_real_numbers(name, kind):
    "Lists and arrays become tensors (NumPy's float dtype kept); integers become the default float dtype."
    ref = torch.tensor([[3., 1., 2., 0., 2.]])
    x = {'list': ref.tolist(), 'float64 array': ref.double().numpy(), 'float32 array': ref.numpy(),
         'int tensor': ref.long(), 'int list': ref.long().tolist()}[kind]
    out = apply(name, x)
    assert isinstance(out, torch.Tensor) and out.dtype == (torch.float64 if kind in ('list', 'float64 array') else torch.float32)
    assert torch.equal(out, apply(name, ref.to(out.dtype)))


@pytest.mark.parametrize('name', FILTERS)
@pytest.mark.parametrize('x, err, msg', [
    (torch.tensor([[True, False]]), TypeError, 'logits: expected real numbers, got dtype torch.bool'),
    (torch.tensor([[1 + 1j, 0j]]), TypeError, 'logits: expected real numbers, got dtype torch.complex64'),
    ([['a', 'b']], TypeError, 'logits: expected real numbers, got list of dtype <U1'),
    ([[0., 1.], [2.]], TypeError, 'logits: expected a tensor or an array of real numbers'),
    (torch.tensor(1.), ValueError, r'logits: expected shape \(\.\.\., V\) with V >= 1 tokens, got \(\)'),
    (torch.zeros(2, 0), ValueError, r'logits: expected shape \(\.\.\., V\) with V >= 1 tokens, got \(2, 0\)'),
])
def test_processors_refuse_what_is_not_logits(name, x, err, msg):
    with pytest.raises(err, match=msg): apply(name, x)


@pytest.mark.parametrize('t', [1e-300, 1e-45, 1e-39])
def test_a_temperature_that_overflows_the_dtype_is_refused(t):
    "1e-300 passed validation, then made NaN and inf (it is 0 in float32) and failed inside torch.multinomial."
    x = torch.tensor([[0., -1., -30.]])
    with pytest.raises(ValueError, match=rf"temperature={t!r}: logits up to 30 in size divided by it overflow torch.float32; expected temperature >= 8.8\de-38"):
        temperature_scale(x, t)
    assert temperature_scale(x, 1e-36).isfinite().all()                       # above the bound it works
    assert temperature_scale(x.double(), t).isfinite().all()                  # float64 holds it


def test_a_temperature_above_the_dtype_is_refused():
    "-inf / inf is NaN: a temperature that is inf in float32 would turn masked tokens into NaN."
    with pytest.raises(ValueError, match=r'temperature=1e\+300: expected temperature <= 3.403e\+38'):
        temperature_scale(torch.tensor([[0., -math.inf]]), 1e300)


@pytest.mark.parametrize('t', [1e-300, 1e-40])
def test_sampling_with_a_tiny_temperature_names_it(t):
    "The check runs up front, on log-probabilities down to -30 in float32, where tokens are drawn."
    with pytest.raises(ValueError, match=rf'temperature={t!r}: logits up to 30 in size'): sample(P, seed=0, temperature=t)


# ---------------------------------------------------------------- a model that breaks, under every rule
class Broken(LanguageModel):
    "`lm`, broken at step `at` (1: the first token after the prompt): a NaN, a +inf, or no finite entry in every row."
    def __init__(self, lm, at:int, how:str): self.lm, self.vocab, self.at, self.how = lm, lm.vocab, at, how
    def _break(self, lp, t):
        if t + 1 != self.at: return lp
        lp = lp.clone()
        if self.how == 'dead': lp[:] = -math.inf
        else: lp[:, 3] = math.nan if self.how == 'NaN' else math.inf
        return lp
    def start(self, prompt=None, batch_size=1):
        s, lp = self.lm.start(prompt, batch_size)
        return (s, 0), self._break(lp, 0)
    def step(self, state, tokens):
        s, lp = self.lm.step(state[0], tokens)
        return (s, state[1] + 1), self._break(lp, state[1] + 1)
    def select(self, state, index): return self.lm.select(state[0], index), state[1]


SAYS = {'NaN': 'NaN next-token log-probabilities', '+inf': r'\+inf next-token log-probabilities',
        'dead': 'no finite next-token log-probabilities'}
PREFIX = {1: "''", 3: r"'w\d w\d'"}


def test_every_rule_kind_has_a_preset():
    assert {spec['rule'] for spec in RULE_PRESETS.values()} == set(RULE_KINDS)


@pytest.mark.parametrize('rule', RULE_PRESETS)
@pytest.mark.parametrize('how', SAYS)
@pytest.mark.parametrize('at', PREFIX)
def test_every_rule_says_what_the_model_did(rule, how, at):
    """Greedy returned '<s> <s> <s>' with log-prob -inf, beam '' marked finished, NaN rows NaN log-probs, and sampling
    torch's 'probability tensor contains inf, nan'. Each rule now names the step and the prefix."""
    with pytest.raises(ValueError, match=rf"the model gave {SAYS[how]} at step {at} after prefix {PREFIX[at]}"):
        decode(Broken(P, at, how), rule, seed=0, max_new_tokens=10)


@pytest.mark.parametrize('how', SAYS)
def test_next_token_view_and_generate_say_what_the_model_did(how):
    with pytest.raises(ValueError, match=rf"the model gave {SAYS[how]} at step 1 after prefix ''"): next_token_view(Broken(P, 1, how))
    with pytest.raises(ValueError, match=rf"the model gave {SAYS[how]} at step 3"): generate(Broken(P, 3, how), 8, seed=0)


def test_a_transform_that_makes_nan_is_named():
    with pytest.raises(ValueError, match=r"transform gave NaN next-token logits at step 1 after prefix ''"):
        generate(P, 4, seed=0, transform=lambda lp, ids: lp * math.nan)


def test_the_message_shows_the_prompt():
    with pytest.raises(ValueError, match=r"at step 1 after prefix '' \(prompt 'w1 w2'\)"): decode(Broken(P, 1, 'dead'), 'greedy', 'w1 w2')


@pytest.mark.parametrize('rule', RULE_PRESETS)
def test_finished_rows_with_no_finite_entry_are_fine(rule):
    "After EOS a tabular model's rows are all -inf: not an error, the row is finished."
    t = TabularLM(Vocab.build(['a', 'b']), ['a', 'a b', 'b b', ''], [0.4, 0.3, 0.2, 0.1])
    d = decode(t, rule, seed=0, max_new_tokens=5)
    assert d.finished[0] and d.logprobs[0] > -math.inf


# ---------------------------------------------------------------- beam search's length penalty
@pytest.mark.parametrize('lpen', [1e300, -1e300, 400.])
def test_a_length_penalty_that_overflows_is_refused(lpen):
    "1e300 raised OverflowError from a Python power; -1e300 divided by zero."
    with pytest.raises(ValueError, match=rf"length_penalty={re.escape(repr(lpen))}: expected \|length_penalty\| <= 130.3, so that length \*\* length_penalty"):
        beam_search(P, num_beams=2, max_new_tokens=10, length_penalty=lpen)


def test_a_large_length_penalty_within_the_bound_works():
    d = beam_search(P, num_beams=2, max_new_tokens=10, length_penalty=100.)
    assert d.scores.isfinite().all()


# ---------------------------------------------------------------- MBR: what a utility returns
@pytest.mark.parametrize('method', ['exact', 'prune'])
@pytest.mark.parametrize('value', [math.nan, math.inf, -math.inf])
def test_mbr_refuses_a_utility_that_is_not_finite(method, value):
    "A NaN utility used to make mbr_select pick index 0 silently."
    def u(hyps, refs):
        U = torch.ones(len(hyps), len(refs)); U[1, 0] = value
        return U
    with pytest.raises(ValueError, match=rf"utility=u: returned {value} for hyps\[1\]='b a' against refs\[0\]='a b'; expected finite numbers"):
        mbr_select(['a b', 'b a', 'a'], utility=u, method=method)


@pytest.mark.parametrize('u, err, msg', [
    (lambda h, r: torch.ones(len(r), len(h) + 1), ValueError, r'returned shape \(3, 4\); expected \(3, 3\)'),
    (lambda h, r: 'high', TypeError, r'returned str; expected an \(3, 3\) array of numbers'),
    (lambda h, r: [[object()] * 3] * 3, TypeError, 'returned list'),
])
def test_mbr_refuses_a_utility_of_the_wrong_shape_or_type(u, err, msg):
    with pytest.raises(err, match=msg): mbr_select(['a b', 'b a', 'a'], utility=u)


@pytest.mark.parametrize('w, err, msg', [([1, math.nan, 1], ValueError, 'weights: contains NaN'), ([1, math.inf, 1], ValueError, 'weights: contains inf'),
                                         (['x', 'y', 'z'], TypeError, 'weights: expected real numbers'), ([1, -1, 1], ValueError, 'weights: expected 3 non-negative')])
def test_mbr_refuses_bad_weights(w, err, msg):
    with pytest.raises(err, match=msg): mbr_select(['a b', 'b a', 'a'], weights=w)


# ---------------------------------------------------------------- texts
@pytest.mark.parametrize('f', [chrf_matrix, bleu_matrix, edit_similarity_matrix, exact_match_matrix, utility_matrix, mbr_select,
                               self_bleu, distinct_n, repetition_rate, zipf_coefficient, diversity])
def test_text_functions_refuse_none(f):
    "chrf_matrix(None) raised Python's 'NoneType object is not iterable'."
    with pytest.raises(TypeError, match=r'(hyps|texts)=None: expected a list of strings'): f(None)


def test_texts_name_the_bad_item():
    with pytest.raises(TypeError, match=r'hyps\[1\]=3: expected a string'): chrf_matrix(['a', 3])
    with pytest.raises(TypeError, match='refs=5: expected a list of strings'): bleu_matrix(['a'], 5)


# ---------------------------------------------------------------- sizes: refused before the work starts
def fast_refusal(call, msg):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=msg): call()
    assert time.perf_counter() - t0 < 5, 'the check must come before the work'


@pytest.mark.parametrize('call, msg', [
    (lambda: chrf_matrix(TEXTS, char_order=10**4), r'char_order=10000: expected an integer in \[1, 32\]'),
    (lambda: bleu_matrix(TEXTS, max_ngram_order=10**4), r'max_ngram_order=10000: expected an integer in \[1, 32\]'),
    (lambda: self_bleu(TEXTS, max_ngram_order=10**4), r'max_ngram_order=10000: expected an integer in \[1, 32\]'),
    (lambda: chrf_matrix(TEXTS, beta=1e300), r'beta=1e\+300: expected a number in \(0, 1000000.0\]'),
    (lambda: MarkovLM.random(order=2**62), 'vocab_size=20, order=4611686018427387904: 22 tokens make a table of 22\\*\\*4611686018427387904'),
    (lambda: MarkovLM.random(vocab_size=10**15, order=1), r'vocab_size=1000000000000000, order=1: .* expected at most \d+ tokens'),
    (lambda: MarkovLM(P.vocab, P.log_probs, order=2**62), r'order=4611686018427387904: 8 tokens .* expected order <= \d+ for 8 tokens'),
    (lambda: MarkovLM.fit(['a b', 'b'], order=2**62), r'order=4611686018427387904: 4 tokens'),
])
def test_sizes_that_would_hang_are_refused(call, msg):
    fast_refusal(call, msg)


def test_orders_beyond_the_longest_text_add_nothing():
    "The n-gram orders are cut at the longest text (15 characters here): the same scores as sacrebleu's at order 32."
    sacrebleu = pytest.importorskip('sacrebleu')
    from sacrebleu.metrics import BLEU, CHRF
    chrf, bleu = CHRF(char_order=MAX_NGRAM_ORDER), BLEU(max_ngram_order=MAX_NGRAM_ORDER, effective_order=True)
    torch.testing.assert_close(chrf_matrix(TEXTS, char_order=MAX_NGRAM_ORDER),
                               torch.tensor([[chrf.sentence_score(h, [r]).score for r in TEXTS] for h in TEXTS], dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(bleu_matrix(TEXTS, max_ngram_order=MAX_NGRAM_ORDER),
                               torch.tensor([[bleu.sentence_score(h, [r]).score for r in TEXTS] for h in TEXTS], dtype=torch.float64), atol=1e-9, rtol=0)


def test_a_huge_max_phrase_costs_no_more_than_the_text():
    t0 = time.perf_counter()
    assert repetition_rate(['a b a b a b', 'x y z'], max_phrase=10**12) == repetition_rate(['a b a b a b', 'x y z'], max_phrase=6) == 0.5
    assert time.perf_counter() - t0 < 5


# ---------------------------------------------------------------- wrong types reach torch no more
def test_markov_lm_checks_its_arguments():
    with pytest.raises(TypeError, match='vocab: expected a Vocab, got list; make one with Vocab'): MarkovLM(P.vocab.itos, P.log_probs)
    with pytest.raises(TypeError, match='log_probs: expected real numbers'): MarkovLM(P.vocab, 'table')
    with pytest.raises(ValueError, match=r'log_probs: contains NaN at index \(0, 3\) \(8 entries in all\)'): MarkovLM(P.vocab, P.log_probs.index_fill(1, torch.tensor([3]), math.nan))
    with pytest.raises(TypeError, match='corpus: expected a list of sentences, got str'): MarkovLM.fit('a b')
    torch.testing.assert_close(MarkovLM(P.vocab, P.log_probs.numpy()).log_probs, P.log_probs)    # an array is converted


# ---------------------------------------------------------------- seeds
task = ToyTranslation(seed=0)
SRC = task.prompt('hund sieht katze')
SEEDED = {
    'generate': lambda s: generate(P, 2, seed=s),
    'LanguageModel.sample': lambda s: P.sample(2, seed=s),
    'MarkovLM.random': lambda s: MarkovLM.random(4, seed=s),
    'ToyTranslation': lambda s: ToyTranslation(seed=s),
    'ToyTranslation.sources': lambda s: task.sources(2, seed=s),
    'ToyTranslation.sample_pairs': lambda s: task.sample_pairs(2, seed=s),
    'TransformerLM': lambda s: TransformerLM(P.vocab, d_model=8, n_heads=2, seed=s),
    'GRULM': lambda s: GRULM(P.vocab, d_model=8, seed=s),
    'GRULM.fit': lambda s: GRULM(P.vocab, d_model=8).fit([[2, 3]], steps=1, seed=s),
    'kl_divergence': lambda s: kl_divergence(P, P, n=2, seed=s),
    'sample': lambda s: sample(P, seed=s),
    'decode greedy': lambda s: decode(P, 'greedy', seed=s),         # draws nothing, checks anyway
    'mbr_select': lambda s: mbr_select(TEXTS, seed=s),
    'mbr_decode': lambda s: mbr_decode(task, SRC, num_samples=4, seed=s),
    'compare_rules': lambda s: compare_rules(task, ['greedy'], [SRC], seed=s),
    'analyze_prompt': lambda s: analyze_prompt(task, SRC, ['greedy'], num_samples=2, seed=s),
}


@pytest.mark.parametrize('name', SEEDED)
@pytest.mark.parametrize('seed, err, msg', [(2**64, ValueError, 'seed=18446744073709551616: expected an integer in'),
                                            (-1, ValueError, 'seed=-1: expected an integer in'),
                                            (1.5, TypeError, 'seed=1.5: expected an integer')])
def test_every_seed_is_checked(name, seed, err, msg):
    "torch's 'Overflow when unpacking long long' named no argument; core's check_seed does."
    with pytest.raises(err, match=msg): SEEDED[name](seed)


@pytest.mark.parametrize('name', SEEDED)
def test_every_seeded_function_runs_with_a_good_seed(name):
    SEEDED[name](2**63 - 1)


def test_mbr_decode_takes_a_generator_for_candidates_too():
    "Separately sampled candidates used seed + 1, which fails for a generator: they now continue drawing from it."
    d = mbr_decode(task, SRC, num_samples=8, seed=torch.Generator().manual_seed(0), candidates={'top_p': 0.9})
    assert len(d) >= 1
