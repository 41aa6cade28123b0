"""Stop strings and several prompts in one sampling call, against transformers' `generate` on config-built tiny GPT-2s.

`stop_strings=` in greedy, beam search and sampling: the same outputs as `generate(..., stop_strings=, tokenizer=)` (the
token that completes a stop string is kept; a stop string may span tokens and overhang the last one), on a 12-token
character tokenizer with multi-character tokens. `sample(prompts=...)` with the history knobs: each row reads its own
prompt, the same draws as a left-padded batched `generate` (padded with BOS, which every row has read anyway). The
repetition penalty, which mlenb applies to log-probabilities, is compared with `generate` given a log-softmax first."""
import warnings

import pytest
import torch

import hf_models
from mlenb.lm import HFCausalLM, MarkovLM
from mlenb.decoding import greedy, beam_search, sample, decode

transformers = pytest.importorskip('transformers')
tokenizers = pytest.importorskip('tokenizers')

VOCAB = {'<s>': 0, '</s>': 1, 'a': 2, 'b': 3, 'c': 4, 'd': 5, 'e': 6, 'f': 7, 'ab': 8, 'cd': 9, 'fa': 10, 'bca': 11}
STOPS = [['ab'], ['ca'], ['e', 'ff'], ['bcab', 'dd'], 'fab', ['dc', 'aa', 'bb', 'fe']]


def char_tokenizer():
    "Characters in, a Fuse decoder out: 'abcdef' encodes one token per character; 'ab', 'cd', 'fa', 'bca' only come from the model."
    t = tokenizers.Tokenizer(tokenizers.models.WordLevel(VOCAB, unk_token='</s>'))
    t.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex('.'), 'isolated')
    t.decoder = tokenizers.decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=t, bos_token='<s>', eos_token='</s>', pad_token='</s>')


@pytest.fixture(scope='module', params=[0, 1, 3])
def tiny(request):
    transformers.logging.set_verbosity_error()
    cfg = transformers.GPT2Config(vocab_size=len(VOCAB), n_positions=64, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=1)
    torch.manual_seed(request.param)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad(): model.transformer.wte.weight.mul_(3.)
    tok = char_tokenizer()
    return model, tok, HFCausalLM(model, tok)


def hf(model, ids, mask, seed=None, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if seed is not None: torch.manual_seed(seed)
        return model.generate(ids, attention_mask=mask, **kw)


BOS = torch.tensor([[0]])


@pytest.mark.parametrize('stops', STOPS)
def test_greedy_and_beam_stop_strings_equal_hf(tiny, stops):
    model, tok, lm = tiny
    for B in (1, 3):
        kw = dict(do_sample=False, max_new_tokens=12, pad_token_id=1, num_beams=B, bad_words_ids=[[0]])
        out = hf(model, BOS, torch.ones_like(BOS), stop_strings=stops, tokenizer=tok, num_return_sequences=B, **kw)
        mine = greedy(lm, max_new_tokens=12, stop_strings=stops, bad_words_ids=[[0]]) if B == 1 else \
            beam_search(lm, num_beams=B, max_new_tokens=12, num_return_sequences=B, stop_strings=stops, bad_words_ids=[[0]])
        assert [lm.vocab.strip(r[1:].tolist()) for r in out] == mine.sequences, (stops, B)
        for s, f, st, lp in zip(mine.sequences, mine.finished, mine.info['stopped'], mine.logprobs):
            text = lm.text(s)
            assert not (f and st) and (not st or any(x in text for x in ([stops] if isinstance(stops, str) else stops)))
            want = lm.logprob(s).item() - (0 if f else lm.next_logprobs(s)[1].item())
            assert abs(lp.item() - want) < 1e-4


@pytest.mark.parametrize('stops', STOPS)
def test_sampling_stop_strings_equal_hf(tiny, stops):
    model, tok, lm = tiny
    for seed in range(2):
        out = hf(model, BOS, torch.ones_like(BOS), seed=seed, do_sample=True, max_new_tokens=12, pad_token_id=1, num_return_sequences=8,
                 top_k=0, top_p=1.0, temperature=1.0, stop_strings=stops, tokenizer=tok)
        s = sample(lm, num_samples=8, max_new_tokens=12, seed=seed, stop_strings=stops)
        assert [lm.vocab.strip(r[1:].tolist()) for r in out] == s.sequences, (stops, seed)
        plain = sample(lm, num_samples=8, max_new_tokens=12, seed=seed)
        for q, f, st, lp, pq, pf, plp in zip(s.sequences, s.finished, s.info['stopped'], s.logprobs, plain.sequences, plain.finished, plain.logprobs):
            assert pq[:len(q)] == q                                   # a stop string only cuts a sample short ...
            if not st: assert (q, f) == (pq, pf) and lp == plp        # ... and leaves the others as they were, bit for bit
            else:
                assert not f and len(q) <= len(pq)
                want = lm.logprob(q).item() - lm.next_logprobs(q)[1].item()
                assert abs(lp.item() - want) < 1e-4                  # the prefix's own log-probability, no EOS


def test_stop_strings_that_never_occur_change_nothing(tiny):
    model, tok, lm = tiny
    for f, kw in [(greedy, {}), (beam_search, dict(num_beams=2)), (sample, dict(num_samples=4, seed=0))]:
        a, b = f(lm, max_new_tokens=10, **kw), f(lm, max_new_tokens=10, stop_strings=['zz'], **kw)
        assert a.sequences == b.sequences and torch.equal(a.logprobs, b.logprobs) and not any(b.info['stopped'])


PROMPTS = [[2, 3], [4], [5, 6, 7, 2], [], [3, 3, 3]]
MASKS = [dict(no_repeat_ngram_size=2, bad_words_ids=[[0]]), dict(min_new_tokens=5), dict(bad_words_ids=[[3], [2, 4], [7, 7]]),
         dict(no_repeat_ngram_size=3, min_new_tokens=3, bad_words_ids=[[0], [4, 4]], top_p=0.9, top_k=6)]


def padded(lm, prompts):
    ctx = [lm.context_ids(p) for p in prompts]
    T = max(map(len, ctx))
    return (torch.tensor([[0] * (T - len(c)) + c for c in ctx]), torch.tensor([[0] * (T - len(c)) + [1] * len(c) for c in ctx]), T)


@pytest.fixture(scope='module', params=[0, 2])
def gpt2(request): return hf_models.tiny_gpt2(request.param)


@pytest.mark.parametrize('knobs', MASKS)
def test_sampling_several_prompts_equals_hf_batched(gpt2, knobs):
    model, lm = gpt2
    ids, mask, T = padded(lm, PROMPTS)
    for seed in range(2):
        out = hf(model, ids, mask, seed=seed, pad_token_id=0, do_sample=True, max_new_tokens=10, num_return_sequences=6,
                 **{**dict(top_k=0, top_p=1.0, temperature=1.0), **knobs})
        s = sample(lm, prompts=PROMPTS, num_samples=6, max_new_tokens=10, seed=seed, **knobs)
        assert [lm.vocab.strip(r[T:].tolist()) for r in out] == s.sequences, (knobs, seed)
        assert s.info['prompt_index'] == [i // 6 for i in range(6 * len(PROMPTS))]
        for q, p, lp, f in zip(s.sequences, [p for p in PROMPTS for _ in range(6)], s.logprobs, s.finished):
            want = lm.logprob(q, p).item() - (0 if f else lm.next_logprobs(q, p)[1].item())
            assert abs(lp.item() - want) < 1e-4


class LogSoftmax(transformers.LogitsProcessor if transformers else object):
    def __call__(self, input_ids, scores): return scores.log_softmax(-1)


@pytest.mark.parametrize('penalty', [1.5, 0.7])
def test_sampling_several_prompts_repetition_penalty(gpt2, penalty):
    "Each row penalises what it read (its own prompt and output), on log-probabilities: HF's processor after a log-softmax."
    from transformers.generation.logits_process import LogitsProcessorList, RepetitionPenaltyLogitsProcessor
    model, lm = gpt2
    ids, mask, T = padded(lm, PROMPTS)
    for seed in range(2):
        out = hf(model, ids, mask, seed=seed, pad_token_id=0, do_sample=True, max_new_tokens=10, num_return_sequences=6, top_k=0, top_p=1.0,
                 temperature=1.0, logits_processor=LogitsProcessorList([LogSoftmax(), RepetitionPenaltyLogitsProcessor(penalty)]))
        s = sample(lm, prompts=PROMPTS, num_samples=6, max_new_tokens=10, seed=seed, repetition_penalty=penalty)
        assert [lm.vocab.strip(r[T:].tolist()) for r in out] == s.sequences, (penalty, seed)


def test_one_prompt_in_a_list_is_the_single_prompt_call(gpt2):
    model, lm = gpt2
    for knobs in [dict(repetition_penalty=1.3, no_repeat_ngram_size=2), dict(min_new_tokens=4, top_k=4)]:
        a = sample(lm, [2, 3], num_samples=5, max_new_tokens=8, seed=1, **knobs)
        b = sample(lm, prompts=[[2, 3]], num_samples=5, max_new_tokens=8, seed=1, **knobs)
        assert a.sequences == b.sequences                          # (the model reads 5 rows at once, not 1 copied: float32 rounding)
        torch.testing.assert_close(a.logprobs, b.logprobs, atol=1e-5, rtol=0)


def test_stop_strings_on_a_markov_model_and_in_decode():
    m = MarkovLM.random(6, seed=0)
    g = greedy(m, max_new_tokens=30)
    stop = m.text(g.best[2:4])
    d = decode(m, 'greedy', max_new_tokens=30, stop_strings=stop)
    assert d.info['stopped'] == [True] and m.text(d.best).endswith(stop) and not d.finished[0] and len(d.best) < len(g.best)
    assert g.best[:len(d.best)] == d.best


@pytest.mark.parametrize('call, msg', [
    (lambda m: greedy(m, stop_strings=['']), r"stop_strings\[0\]=''"),
    (lambda m: beam_search(m, stop_strings=[3]), r'stop_strings\[0\]=3'),
    (lambda m: sample(m, stop_strings=5), 'stop_strings=5'),
    (lambda m: sample(m, stop_strings=[]), r'stop_strings=\[\]'),
    (lambda m: sample(m, prompt=[2], prompts=[[2]]), 'prompt, prompts'),
    (lambda m: sample(m, prompts='ab'), 'prompts: expected a list'),
    (lambda m: sample(m, prompts=[]), 'prompts: expected at least one'),
    (lambda m: sample(m, prompts=[[2]], top_q=1), 'unknown sampling knob'),
])
def test_bad_arguments(gpt2, call, msg):
    with pytest.raises((ValueError, TypeError), match=msg): call(gpt2[1])


def test_prompts_need_start_many():
    with pytest.raises(TypeError, match='start_many'): sample(MarkovLM.random(6, seed=0), prompts=[[2], [3]])
