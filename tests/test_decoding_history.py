"""The history knobs (repetition_penalty, no_repeat_ngram_size, bad_words_ids, min_new_tokens) and eta_cutoff against
transformers' own logits processors, token for token on random logits, and in generation on a config-built tiny GPT-2
through `HFCausalLM`: greedy, beam search (sequences and scores) and sampling (the same draws under the same seed).

mlenb applies every processor to log-probabilities, as Hugging Face's beam search does; its greedy search and sampling
apply them to raw logits. The masks and eta do not see the difference (they are invariant to adding a constant to a
row); the repetition penalty does, so its generation oracle is beam search."""
import itertools, math, warnings

import pytest

import hf_models
import torch

from mlenb.lm import HFCausalLM, MarkovLM
from mlenb.decoding import (repetition_penalty_filter, no_repeat_ngram_filter, bad_words_filter, min_new_tokens_filter,
                            eta_filter, process_logits, greedy, beam_search, sample, decode, next_token_view,
                            HISTORY_PROCESSORS, PROCESSORS, SAMPLE_KNOBS)

tlp = pytest.importorskip('transformers.generation.logits_process')


def logits_cases():
    "Random logits: smooth, peaky, many ties, -inf entries, positive and negative (the penalty's two branches), float64."
    g = torch.Generator().manual_seed(0)
    return dict(smooth=torch.randn(16, 12, generator=g), peaky=4 * torch.randn(16, 12, generator=g),
                ties=torch.randint(-3, 3, (16, 12), generator=g).float(),
                masked=torch.randn(16, 12, generator=g).masked_fill(torch.rand(16, 12, generator=g) < 0.3, -math.inf),
                f64=torch.randn(16, 12, generator=g, dtype=torch.float64))

CASES = logits_cases()
T_LENGTHS = [0, 1, 2, 5, 20]


def history(T, V=12, seed=1):
    "Random ids read so far, (16, T), from a few tokens only: repeated n-grams are common."
    return torch.randint(0, min(V, 4), (16, T), generator=torch.Generator().manual_seed(seed + T))


def same(a, b):
    "Token for token: the same entries kept, with the same values (bit for bit)."
    assert torch.equal(a.isfinite(), b.isfinite()), f"kept differ in {(a.isfinite() != b.isfinite()).sum().item()} entries"
    assert torch.equal(a[a.isfinite()], b[b.isfinite()])


def test_every_history_processor_is_covered():
    assert {n for n, _, _ in HISTORY_PROCESSORS} == {'repetition_penalty', 'no_repeat_ngram_size', 'bad_words_ids', 'min_new_tokens'}
    assert 'eta_cutoff' in {n for n, _, _ in PROCESSORS} and set(SAMPLE_KNOBS) >= {n for n, _, _ in HISTORY_PROCESSORS}


# ---------------------------------------------------------------- random logits
@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('T', T_LENGTHS)
@pytest.mark.parametrize('penalty', [0.5, 1.0, 1.3, 2.0])
def test_repetition_penalty(case, T, penalty):
    x, ids = CASES[case], history(T)
    same(repetition_penalty_filter(x, ids, penalty), tlp.RepetitionPenaltyLogitsProcessor(penalty)(ids, x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('T', T_LENGTHS)
@pytest.mark.parametrize('n', [1, 2, 3, 4])
def test_no_repeat_ngram(case, T, n):
    x, ids = CASES[case], history(T)
    same(no_repeat_ngram_filter(x, ids, n), tlp.NoRepeatNGramLogitsProcessor(n)(ids, x.clone()))


BAD_WORDS = [[[3]], [[2, 3]], [[1]], [[1], [0, 2], [3, 3, 3]], [[2, 1, 0, 3, 2, 1, 0, 3]], [[5], [11], [0, 0]]]

@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('T', T_LENGTHS)
@pytest.mark.parametrize('words', BAD_WORDS)
@pytest.mark.parametrize('eos', [None, 1])
def test_bad_words(case, T, words, eos):
    x, ids = CASES[case], history(T)
    same(bad_words_filter(x, ids, words, eos), tlp.NoBadWordsLogitsProcessor(words, eos)(ids, x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('T', T_LENGTHS)
@pytest.mark.parametrize('m, prompt_length', [(0, 0), (1, 0), (3, 1), (5, 2), (30, 1)])
def test_min_new_tokens(case, T, m, prompt_length):
    x, ids = CASES[case], history(T)
    if T < prompt_length: return
    same(min_new_tokens_filter(x, ids, m, 1, prompt_length), tlp.MinNewTokensLengthLogitsProcessor(prompt_length, m, 1)(ids, x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('eta', [1e-4, 0.01, 0.05, 0.3, 0.9])
@pytest.mark.parametrize('keep', [1, 3])
def test_eta(case, eta, keep):
    x = CASES[case]
    same(eta_filter(x, eta, keep), tlp.EtaLogitsWarper(eta, min_tokens_to_keep=keep)(None, x.clone()))


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('T', [0, 3, 20])
@pytest.mark.parametrize('knobs', [
    dict(repetition_penalty=1.4, no_repeat_ngram_size=2, temperature=0.7, top_p=0.9),
    dict(bad_words_ids=[[2], [3, 0]], min_new_tokens=4, eta_cutoff=0.02),
    dict(repetition_penalty=0.8, no_repeat_ngram_size=3, bad_words_ids=[[1], [0, 0]], min_new_tokens=2, top_k=6, min_p=0.05,
         typical_p=0.95, epsilon_cutoff=0.001, eta_cutoff=0.001)])
def test_chain_in_generate_order(case, T, knobs):
    "process_logits applies the history processors, then the warpers, in the order of transformers' `_get_logits_processor`."
    x, ids = CASES[case], history(T)
    chain = []
    if 'repetition_penalty' in knobs: chain.append(tlp.RepetitionPenaltyLogitsProcessor(knobs['repetition_penalty']))
    if 'no_repeat_ngram_size' in knobs: chain.append(tlp.NoRepeatNGramLogitsProcessor(knobs['no_repeat_ngram_size']))
    if 'bad_words_ids' in knobs: chain.append(tlp.NoBadWordsLogitsProcessor(knobs['bad_words_ids'], 1))
    if 'min_new_tokens' in knobs: chain.append(tlp.MinNewTokensLengthLogitsProcessor(1 if T else 0, knobs['min_new_tokens'], 1))
    if 'temperature' in knobs: chain.append(tlp.TemperatureLogitsWarper(knobs['temperature']))
    if 'top_k' in knobs: chain.append(tlp.TopKLogitsWarper(knobs['top_k']))
    if 'top_p' in knobs: chain.append(tlp.TopPLogitsWarper(knobs['top_p']))
    if 'min_p' in knobs: chain.append(tlp.MinPLogitsWarper(knobs['min_p']))
    if 'typical_p' in knobs: chain.append(tlp.TypicalLogitsWarper(knobs['typical_p']))
    if 'epsilon_cutoff' in knobs: chain.append(tlp.EpsilonLogitsWarper(knobs['epsilon_cutoff']))
    if 'eta_cutoff' in knobs: chain.append(tlp.EtaLogitsWarper(knobs['eta_cutoff']))
    want = tlp.LogitsProcessorList(chain)(ids, x.clone())
    same(process_logits(x, **knobs, input_ids=ids, prompt_length=1 if T else 0, eos_token_id=1), want)


def test_any_leading_shape():
    "History processors take (..., V) with ids (..., T): a 3-D batch equals row by row."
    x, ids = torch.randn(3, 4, 12, generator=torch.Generator().manual_seed(2)), history(6)[:12].view(3, 4, 6)
    for f, v in [(repetition_penalty_filter, 1.5), (no_repeat_ngram_filter, 2), (bad_words_filter, [[1], [2, 3]])]:
        same(f(x, ids, v).view(12, 12), f(x.view(12, 12), ids.reshape(12, 6), v))


@pytest.mark.parametrize('call, arg', [
    (lambda x, i: repetition_penalty_filter(x, i, 0.), 'repetition_penalty=0.0'),
    (lambda x, i: repetition_penalty_filter(x, i, '2'), "repetition_penalty='2'"),
    (lambda x, i: no_repeat_ngram_filter(x, i, 1.5), 'no_repeat_ngram_size=1.5'),
    (lambda x, i: bad_words_filter(x, i, []), r'bad_words_ids=\[\]'),
    (lambda x, i: bad_words_filter(x, i, [3]), r'bad_words_ids\[0\]=3'),
    (lambda x, i: bad_words_filter(x, i, [[]]), r'bad_words_ids\[0\]=\[\]'),
    (lambda x, i: bad_words_filter(x, i, [[-1]]), r'bad_words_ids\[0\]\[0\]=-1'),
    (lambda x, i: min_new_tokens_filter(x, i, -1, 1), 'min_new_tokens=-1'),
    (lambda x, i: min_new_tokens_filter(x, i, 2, 12), 'eos_token_id=12'),
    (lambda x, i: eta_filter(x, 1.), 'eta_cutoff=1.0'),
    (lambda x, i: repetition_penalty_filter(x, i.float(), 1.5), 'input_ids: expected integer ids'),
    (lambda x, i: repetition_penalty_filter(x, i[:3], 1.5), 'input_ids: expected shape'),
    (lambda x, i: repetition_penalty_filter(x, i + 12, 1.5), 'input_ids: expected ids from 0 to 11'),
    (lambda x, i: process_logits(x, no_repeat_ngram_size=2), 'input_ids: no_repeat_ngram_size=2'),
    (lambda x, i: process_logits(x, min_new_tokens=2, input_ids=i), 'eos_token_id: min_new_tokens=2'),
])
def test_bad_knobs(call, arg):
    with pytest.raises((ValueError, TypeError), match=arg): call(CASES['smooth'], history(4))


# ---------------------------------------------------------------- generation on a tiny GPT-2
@pytest.fixture(scope='module', params=[0, 2])
def tiny_gpt2(request): return hf_models.tiny_gpt2(request.param)


hf_generate = hf_models.hf_generate

MASKS = [dict(no_repeat_ngram_size=1), dict(no_repeat_ngram_size=2), dict(bad_words_ids=[[3], [2, 4], [1]]),
         dict(min_new_tokens=6), dict(no_repeat_ngram_size=3, bad_words_ids=[[5, 5]], min_new_tokens=3)]


@pytest.mark.parametrize('knobs', MASKS)
def test_greedy_with_history_knobs_equals_hf(tiny_gpt2, knobs):
    model, lm = tiny_gpt2
    out = hf_generate(model, do_sample=False, max_new_tokens=12, **knobs)
    g = greedy(lm, max_new_tokens=12, **knobs)
    assert lm.vocab.strip(out[0, 1:].tolist()) == g.best and g.finished[0] == (1 in out[0, 1:].tolist())


@pytest.mark.parametrize('knobs', MASKS + [dict(repetition_penalty=1.5), dict(repetition_penalty=0.7, no_repeat_ngram_size=2, min_new_tokens=2)])
def test_beam_search_with_history_knobs_equals_hf(tiny_gpt2, knobs):
    "The n-best sequences and their length-penalised (processed) scores; HF's beam search, like mlenb, processes log-probabilities."
    model, lm = tiny_gpt2
    for B, L in [(2, 6), (3, 12)]:
        out = hf_generate(model, do_sample=False, num_beams=B, max_new_tokens=L, num_return_sequences=2, output_scores=True,
                          return_dict_in_generate=True, **knobs)
        mine = beam_search(lm, num_beams=B, max_new_tokens=L, num_return_sequences=2, **knobs)
        assert [lm.vocab.strip(s[1:].tolist()) for s in out.sequences] == mine.sequences, (knobs, B, L)
        tol = 2 * L * 2**-24 * max(1., float(mine.scores.abs().max()))     # L float32 terms summed on each side
        torch.testing.assert_close(mine.scores, out.sequences_scores.double(), atol=tol, rtol=0)
        for s, lp, f in zip(mine.sequences, mine.logprobs, mine.finished):   # the model's own log-probability, not the processed one
            want = lm.logprob(s).item() - (0 if f else lm.next_logprobs(s)[lm.vocab.eos_id].item())
            assert abs(lp.item() - want) < 1e-4


@pytest.mark.parametrize('knobs', [dict(eta_cutoff=0.1), dict(eta_cutoff=0.02, no_repeat_ngram_size=2, min_new_tokens=3),
                                   dict(bad_words_ids=[[4], [2, 3]], top_k=5, eta_cutoff=0.05)])
def test_sampling_with_new_knobs_equals_hf(tiny_gpt2, knobs):
    "The same draws under the same seed: HF's global generator seeded as mlenb seeds its own."
    model, lm = tiny_gpt2
    n, L = 16, 10
    for seed in range(3):
        torch.manual_seed(seed)
        hf = {**dict(top_k=0, top_p=1.0, temperature=1.0), **knobs}
        out = hf_generate(model, do_sample=True, max_new_tokens=L, num_return_sequences=n, **hf)
        s = sample(lm, num_samples=n, max_new_tokens=L, seed=seed, **knobs)
        assert [lm.vocab.strip(r[1:].tolist()) for r in out] == s.sequences, (knobs, seed)


# ---------------------------------------------------------------- wiring
def test_decode_and_next_token_view_take_the_new_knobs():
    m = MarkovLM.random(6, seed=0)
    loop = greedy(m, max_new_tokens=30)
    assert len(set(loop.best)) < len(loop.best)                              # greedy loops ...
    for rule in ('greedy', 'beam'):
        d = decode(m, rule, max_new_tokens=30, no_repeat_ngram_size=2)
        grams = list(zip(d.best, d.best[1:]))
        assert len(set(grams)) == len(grams) and d.info['knobs']['no_repeat_ngram_size'] == 2   # ... and no longer repeats a bigram
    s = decode(m, 'nucleus', seed=0, max_new_tokens=30, bad_words_ids=[[3]])
    assert 3 not in s.best and s.info['knobs'] == dict(top_p=0.9, bad_words_ids=[[3]])
    v = next_token_view(m, prefix=[2, 3], top=None, bad_words_ids=[[3, 2]], eta_cutoff=0.05)
    assert v['removed_by'][v['ids'].index(2)] in ('bad_words_ids', None) and not v['kept'][v['ids'].index(2)]
    with pytest.raises(TypeError, match='unknown greedy knob'): greedy(m, eta_cutoff=0.1)
    with pytest.raises(TypeError, match='unknown beam_search knob'): beam_search(m, top_k=3)
    with pytest.raises(ValueError, match=r'bad_words_ids\[0\]\[0\]=99'): sample(m, bad_words_ids=[[99]])
