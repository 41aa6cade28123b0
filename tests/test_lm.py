"""Tests of `mlenb.lm`: the interface (cache against whole-sequence scoring, prefixes of different lengths,
select), the known-P models against brute force (MarkovLM's mode, top-n, entropy and expected length; the
toy translation task's P(y | x) against its own derivations), the neural models and the Hugging Face adapter
(a randomly initialised tiny GPT-2, no download), and bad input."""
import itertools, math, random, warnings

import pytest
import torch

from mlenb.lm import (Vocab, LanguageModel, MarkovLM, TabularLM, ToyTranslation, TransformerLM, GRULM, HFCausalLM,
                      SearchBudgetWarning, generate, kl_divergence)

F64 = torch.float64


def close_lp(a, b, eps=1e-9):
    "Log-probabilities equal, -inf included."
    a, b = torch.as_tensor(a, dtype=F64), torch.as_tensor(b, dtype=F64)
    assert torch.equal(a == -math.inf, b == -math.inf)
    f = a > -math.inf
    torch.testing.assert_close(a[f], b[f], atol=eps, rtol=0)


def brute_force(m, max_len, prompt=None):
    "Every sequence of up to max_len words with its log-probability."
    words = [i for i in range(len(m.vocab)) if i not in (m.vocab.bos_id, m.vocab.eos_id)]
    seqs = [list(s) for L in range(max_len + 1) for s in itertools.product(words, repeat=L)]
    return seqs, m.logprob(seqs, prompt)


# ---------------------------------------------------------------- vocabulary and interface
def test_vocab():
    v = Vocab.build(['b', 'a', 'b'], specials=['<sep>'])
    assert v.itos == ['<s>', '</s>', '<sep>', 'b', 'a'] and (v.bos_id, v.eos_id) == (0, 1)
    assert v.encode('a b') == [4, 3] and v.encode([4, 'b']) == [4, 3] and v.decode([4, 3, 1, 4]) == ['a', 'b']
    with pytest.raises(ValueError, match="unknown token 'c' at position 1"): v.encode('a c')
    with pytest.raises(ValueError, match='id 7 at position 0'): v.encode([7])
    with pytest.raises(TypeError, match='expected token strings or integer ids'): v.encode([1.5])
    with pytest.raises(ValueError, match='itos'): Vocab(['x'])


MODELS = {
    'markov2': lambda: MarkovLM.random(5, order=2, seed=0),
    'markov3': lambda: MarkovLM.random(4, order=3, seed=1, eos_weight=2.),
    'markov1': lambda: MarkovLM.random(4, order=1, seed=2, eos_weight=2.),
    'tabular': lambda: TabularLM(Vocab.build(['a', 'b', 'c']), ['a', 'a b', '', 'c c c', 'b a'], [.3, .2, .1, .25, .15]),
    'transformer': lambda: TransformerLM(Vocab.build(['a', 'b', 'c']), d_model=16, n_heads=2),
    'gru': lambda: GRULM(Vocab.build(['a', 'b', 'c']), d_model=16, n_layers=2),
}


@pytest.mark.parametrize('name', MODELS)
def test_cache_equals_whole_sequences(name):
    "Stepping with the cache, the model's own logprob and next_logprobs of different prefix lengths agree."
    m = MODELS[name]()
    prompt = None if name == 'tabular' else m.vocab.itos[2]
    seqs = [[], [2], [3, 2, 4], [4, 4, 4, 4, 2]]
    close_lp(m.logprob(seqs, prompt), LanguageModel.logprob(m, seqs, prompt), eps=1e-5)
    nl = m.next_logprobs(seqs, prompt)
    for s, row in zip(seqs, nl):
        close_lp(row.double(), m.next_logprobs(s, prompt).double(), eps=1e-5)
    # select repeats and reorders rows
    st, lp = m.start(prompt, 2)
    st, lp = m.step(st, torch.tensor([2, 3]))
    st = m.select(st, torch.tensor([1, 1, 0]))
    st, lp = m.step(st, torch.tensor([2, 4, 4]))
    for row, pre in zip(lp, [[3, 2], [3, 4], [2, 4]]): close_lp(row.double(), m.next_logprobs(pre, prompt).double(), eps=1e-5)


@pytest.mark.parametrize('name', ['markov2', 'markov3', 'markov1', 'tabular'])
def test_known_models_normalise(name):
    "The probabilities of all sequences up to a length sum to at most one (exactly one for a finite support)."
    m = MODELS[name]()
    seqs, lps = brute_force(m, 4)
    total = lps.exp().sum().item()
    assert 0.3 < total <= 1 + 1e-12
    if name == 'tabular': assert abs(total - 1) < 1e-12


def test_generate_is_reproducible_and_scores_itself():
    m = MODELS['markov3']()
    a, fa, la = generate(m, 30, seed=5)
    b, fb, lb = generate(m, 30, seed=5)
    assert a == b and fa == fb and torch.equal(la, lb)
    close_lp(la, m.logprob(a))
    _, fin, _ = generate(m, 30, max_new_tokens=1, seed=5)
    assert not all(fin)


def test_sampling_frequencies_match_probabilities():
    m = MODELS['tabular']()
    ys = m.sample(20000, seed=0)
    freq = {tuple(y): ys.count(y) / len(ys) for y in map(list, {tuple(y) for y in ys})}
    seqs, lps, exact = m.support()
    assert exact and set(freq) == {tuple(s) for s in seqs}
    for s, lp in zip(seqs, lps): assert abs(freq[tuple(s)] - lp.exp().item()) < 0.015


# ---------------------------------------------------------------- MarkovLM
@pytest.mark.parametrize('seed, order', [(0, 2), (1, 2), (2, 3), (3, 1)])
def test_markov_mode_top_n_against_brute_force(seed, order):
    m = MarkovLM.random(3, order=order, sparsity=0.4, seed=seed, eos_weight=1.5)
    seqs, lps = brute_force(m, 7)
    top, tl = m.top_sequences(15)
    mode, lm = m.exact_mode()
    assert mode == top[0] and abs(lm - tl[0].item()) < 1e-12
    assert abs(lm - lps.max().item()) < 1e-12                     # the mode within length 7 is the mode (it is shorter)
    srt = lps.sort(descending=True).values
    k = int((srt > -math.inf).sum().clip(max=15))
    torch.testing.assert_close(tl[:k], srt[:k], atol=1e-12, rtol=0)
    close_lp(m.logprob(top), tl)


def test_markov_mode_with_prompt():
    m = MarkovLM.random(4, order=3, seed=4)
    for prompt in ['w0', 'w1 w2', 'w3 w3 w0']:
        seqs, lps = brute_force(m, 6, prompt)
        mode, lp = m.exact_mode(prompt)
        assert abs(lp - lps.max().item()) < 1e-12 and abs(m.logprob(mode, prompt).item() - lp) < 1e-12


def test_markov_mode_budget():
    m = MarkovLM.random(6, order=3, seed=0)
    with pytest.warns(SearchBudgetWarning, match='max_nodes=2'):
        seq, lp = m.exact_mode(max_nodes=2)
    assert lp <= m.exact_mode()[1] + 1e-12 and abs(m.logprob(seq).item() - lp) < 1e-12


@pytest.mark.parametrize('seed, order', [(0, 2), (1, 3), (5, 1)])
def test_markov_entropy_and_length_against_enumeration(seed, order):
    m = MarkovLM.random(3, order=order, sparsity=0.3, seed=seed, eos_weight=12.)
    seqs, lps = m.top_sequences(4000)
    assert lps.exp().sum() > 1 - 1e-4
    p = lps.exp()
    assert abs(-(p * lps).sum().item() - m.entropy()) < 2e-3
    assert abs((p * torch.tensor([len(s) for s in seqs], dtype=F64)).sum().item() - m.expected_length()) < 2e-3


def test_markov_entropy_exact_by_recursion():
    "A bigram's entropy satisfies H(c) = H_c + sum_w p(w|c) H(next context): check with the visits solution directly."
    m = MarkovLM.random(5, order=2, seed=9)
    P = m.log_probs.exp()
    lp = m.log_probs.masked_fill(m.log_probs == -math.inf, 0.)
    Hc = -(P * lp).sum(-1)
    H = torch.zeros(len(m.vocab), dtype=F64)
    for _ in range(3000): H = Hc + P[:, 2:] @ H[2:]                 # fixed point over word contexts
    assert abs(H[0].item() - m.entropy()) < 1e-9


def test_markov_fit_counts():
    corpus = ['a b a', 'a b', 'b', 'a a']
    m = MarkovLM.fit(corpus, order=2)
    # after a: b twice, EOS twice, a once; after b: a once, EOS twice; after BOS: a three times, b once
    assert abs(m.logprob('a b a').exp().item() - 3/4 * 2/5 * 1/3 * 2/5) < 1e-12
    m3 = MarkovLM.fit(corpus, order=3, smoothing=0.5)
    assert torch.allclose(m3.log_probs.exp().sum(-1), torch.ones(m3.n_contexts, dtype=F64))
    m1 = MarkovLM.fit(corpus, order=1)
    counts = {'a': 5, 'b': 3, 'EOS': 4}                            # unigram counts, EOS included
    tot = sum(counts.values())
    assert abs(m1.logprob('b').exp().item() - counts['b'] / tot * counts['EOS'] / tot) < 1e-12


def test_markov_random_sparsity_and_validation():
    m = MarkovLM.random(40, sparsity=0.5, seed=0)
    zero = (m.log_probs[:, 2:] == -math.inf).double().mean().item()
    assert 0.45 < zero < 0.55 and (m.log_probs[:, 1] > -math.inf).all()
    for bad, arg in [(dict(vocab_size=0), 'vocab_size=0'), (dict(sparsity=1.), 'sparsity=1.0'), (dict(order=0), 'order=0'),
                     (dict(eos_weight=0), 'eos_weight=0')]:
        with pytest.raises(ValueError, match=arg): MarkovLM.random(**{'vocab_size': 3, **bad})
    with pytest.raises(ValueError, match='log_probs'): MarkovLM(Vocab.build(['a']), torch.zeros(3, 3), 2)


# ---------------------------------------------------------------- toy translation
def test_translation_distribution_is_exact():
    task = ToyTranslation(seed=3, swap_prob=0.4, copy_prob=0.1, truncate_prob=0.2)
    x = ['hund', 'mag', 'hund']                                    # a repeated word: swaps can coincide
    d = task.distribution(x)
    assert abs(sum(d.values()) - 1) < 1e-12
    # by simulation of the generative story
    rng = random.Random(0)
    n, counts, syn = 40000, {}, task.synonyms
    for _ in range(n):
        u = rng.random()
        clean = tuple(rng.choices(list(syn[w]), weights=list(syn[w].values()))[0] for w in x)
        if u < task.copy_prob: y = tuple(x)
        elif u < task.copy_prob + task.truncate_prob: y = clean[:rng.randrange(len(x))]
        else:
            y = list(clean)
            if rng.random() < task.swap_prob:
                i = rng.randrange(len(x) - 1); y[i], y[i + 1] = y[i + 1], y[i]
            y = tuple(y)
        counts[y] = counts.get(y, 0) + 1
    assert set(counts) <= set(d)
    for y, c in counts.items(): assert abs(c / n - d[y]) < 4 * math.sqrt(d[y] / n) + 1e-3


def test_translation_as_language_model():
    task = ToyTranslation(seed=0)
    for x in task.sources(5, seed=2):
        p = task.prompt(x)
        d = task.distribution(x)
        ys = [list(y) for y in d]
        close_lp(task.logprob(ys, p), torch.tensor(list(d.values()), dtype=F64).log(), eps=1e-12)
        assert abs(task.entropy(p) + sum(v * math.log(v) for v in d.values())) < 1e-12
        mode, lp = task.exact_mode(p)
        assert abs(lp - math.log(max(d.values()))) < 1e-12
    with pytest.raises(ValueError, match="'<sep>'"): task.start(task.vocab.encode('hund'))
    with pytest.raises(ValueError, match="unknown source word 'dog'"): task.prompt('dog')


def test_translation_mode_is_rare():
    "With the default noise the mode carries a few percent and is often the copy of the source."
    task = ToyTranslation(seed=0)
    srcs = task.sources(40, seed=0)
    modes = [task.exact_mode(task.prompt(x)) for x in srcs]
    mass = [math.exp(lp) for _, lp in modes]
    copies = sum(task.vocab.decode(m) == x for (m, _), x in zip(modes, srcs))
    assert max(mass) < 0.2 and 0.03 < sum(mass) / len(mass) < 0.1 and copies >= 5


def test_sample_pairs():
    task = ToyTranslation(seed=0)
    pairs = task.sample_pairs(60, seed=1)
    assert pairs == task.sample_pairs(60, seed=1)
    for p, y in pairs: assert task.logprob(y, p).item() > -math.inf


# ---------------------------------------------------------------- neural models
@pytest.mark.parametrize('cls', [TransformerLM, GRULM])
def test_neural_training_lowers_kl(cls):
    P = MarkovLM.random(5, order=2, seed=0, eos_weight=3.)
    data = P.sample(3000, seed=1)
    Q = cls(P.vocab, d_model=32, seed=0)
    before = kl_divergence(P, Q, n=400, seed=2)['kl']
    Q.fit(data, steps=120, batch_size=64, lr=1e-2, seed=0)
    after = kl_divergence(P, Q, n=400, seed=2)
    loss = Q.trace_.series('loss')
    assert loss[-1] < loss[0] and after['kl'] < before / 3 and after['kl'] < 0.3, (before, after)
    assert [s.step for s in Q.trace_][-1] == 120


@pytest.mark.slow
def test_transformer_learns_translation():
    "A tiny transformer trained on the toy task's pairs comes within a few tenths of a nat of P(y | x)."
    task = ToyTranslation(seed=0)
    pairs = task.sample_pairs(20000, seed=0)
    Q = TransformerLM(task.vocab, d_model=64, n_layers=2, n_heads=4, seed=0).fit(pairs, steps=1500, batch_size=64, lr=1e-2)
    prompts = [task.prompt(x) for x in task.sources(30, seed=5)]
    kl = kl_divergence(task, Q, prompts, n=600, seed=1)
    assert kl['kl'] < 0.4, kl                                      # 0.24 ± 0.03 nats per sentence when written; H(P) is about 4
    from mlenb.decoding import compare_rules
    table = compare_rules(Q, ['greedy', 'beam', 'mbr'], prompts[:5], true_lm=task)       # the learned Q, scored under the true P
    assert all(math.isfinite(r['expected_utility']) for r in table)


def test_neural_validation():
    v = Vocab.build(['a'])
    with pytest.raises(ValueError, match='d_model=10'): TransformerLM(v, d_model=10, n_heads=4)
    net = TransformerLM(v, d_model=8, n_heads=2, max_len=4)
    with pytest.raises(ValueError, match='max_len=4'): net.logprob([[2, 2, 2, 2]])
    with pytest.raises(ValueError, match='steps=0'): net.fit([[2]], steps=0)
    with pytest.raises(ValueError, match='data'): net.fit([])


# ---------------------------------------------------------------- Hugging Face adapter
@pytest.fixture(scope='module')
def gpt2():
    transformers = pytest.importorskip('transformers')
    cfg = transformers.GPT2Config(vocab_size=30, n_positions=40, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    return HFCausalLM(transformers.GPT2LMHeadModel(cfg))


def test_hf_logprob_equals_full_forward(gpt2):
    seqs = [[5, 7, 9], [], [3] * 10]
    want = []
    for s in seqs:
        lp = gpt2.model(torch.tensor([[0] + s + [1]])).logits.log_softmax(-1)[0]
        want.append(sum(lp[i, t].item() for i, t in enumerate(s + [1])))
    close_lp(gpt2.logprob(seqs), torch.tensor(want, dtype=F64), eps=1e-5)
    close_lp(gpt2.logprob(seqs[:1], prompt=[4, 4]), LanguageModel.logprob(gpt2, seqs[:1], prompt=[4, 4]), eps=1e-5)


def test_hf_select_and_step(gpt2):
    st, lp = gpt2.start([2], 2)
    st, lp = gpt2.step(st, torch.tensor([5, 6]))
    st = gpt2.select(st, torch.tensor([1, 0, 0]))
    st, lp = gpt2.step(st, torch.tensor([7, 7, 8]))
    for row, pre in zip(lp, [[6, 7], [5, 7], [5, 8]]):
        torch.testing.assert_close(row, gpt2.next_logprobs(pre, prompt=[2]), atol=1e-5, rtol=0)
    assert gpt2.vocab.bos_id == 0 and gpt2.vocab.eos_id == 1 and len(gpt2.vocab) == 30


def test_hf_missing_transformers_message(monkeypatch):
    import builtins, mlenb.lm as lm
    real = builtins.__import__
    def fake(name, *a, **k):
        if name == 'transformers': raise ImportError('no')
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, '__import__', fake)
    with pytest.raises(ImportError, match=r"mlenb\[hf\]"): lm.HFCausalLM(object())


# ---------------------------------------------------------------- the adapter with a tokenizer, and several prompts at once
WORDS = ['<s>', '</s>', '<pad>'] + 'the dog cat sees a big small house .'.split()


def word_tokenizer(adds_bos):
    "A word-level fast tokenizer built in memory (no download); with `adds_bos`, it starts every encoding with <s> (Llama's habit)."
    transformers = pytest.importorskip('transformers')
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token='<pad>'))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()                    # 'dog.' -> 'dog', '.': not a whitespace split
    if adds_bos: tok.post_processor = processors.TemplateProcessing(single='<s> $A', special_tokens=[('<s>', 0)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token='<s>', eos_token='</s>', pad_token='<pad>')


@pytest.fixture(scope='module')
def word_gpt2():
    transformers = pytest.importorskip('transformers')
    transformers.logging.set_verbosity_error()
    cfg = transformers.GPT2Config(vocab_size=len(WORDS), n_positions=40, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=1,
                                  pad_token_id=2)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad(): model.transformer.wte.weight.mul_(3.)
    return model


def full_forward_logprob(model, context, seq, eos=1):
    "log p(seq, EOS | context) from one forward pass over the whole sequence."
    ids = torch.tensor([context + seq + [eos]])
    lp = model(ids).logits.log_softmax(-1)[0].double()
    return sum(lp[len(context) - 1 + i, t].item() for i, t in enumerate(seq + [eos]))


@pytest.mark.parametrize('adds_bos', [True, False])
def test_hf_prompt_strings_go_through_the_tokenizer_and_bos_comes_once(word_gpt2, adds_bos):
    tok = word_tokenizer(adds_bos)
    lm = HFCausalLM(word_gpt2, tok)
    assert lm.adds_bos == adds_bos
    prompt, seq = 'the big dog.', [6, 4, 11]
    want_context = tok(prompt)['input_ids']                              # what the tokenizer itself gives: BOS at most once
    assert want_context == ([0] if adds_bos else []) + [3, 8, 4, 11] and lm.context_ids(prompt) == want_context
    assert lm.context_ids(want_context) == want_context                  # ids that already hold the tokenizer's BOS get no second one
    assert lm.context_ids(None) == [0] and lm.context_ids('') == [0]     # a model needs a token to start from
    assert abs(lm.logprob(seq, prompt).item() - full_forward_logprob(word_gpt2, want_context, seq)) < 1e-5
    assert abs(lm.logprob(seq, want_context).item() - full_forward_logprob(word_gpt2, want_context, seq)) < 1e-5


def test_hf_greedy_from_a_prompt_string_equals_hf_generate(word_gpt2):
    from mlenb.decoding import greedy
    for adds_bos in (True, False):
        tok = word_tokenizer(adds_bos)
        lm = HFCausalLM(word_gpt2, tok)
        for prompt in ['the dog sees', 'a small cat .']:
            ids = tok(prompt, return_tensors='pt')['input_ids']
            out = word_gpt2.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=10, pad_token_id=2)
            assert lm.vocab.strip(out[0, ids.shape[1]:].tolist()) == greedy(lm, prompt, max_new_tokens=10).best


PROMPTS = ['the big dog sees a', 'cat', None, 'a small house .']


def test_hf_start_many_equals_one_prompt_at_a_time(word_gpt2):
    "Left padding, attention mask and position ids: each row of a batch is what its prompt gives alone, step after step."
    lm = HFCausalLM(word_gpt2, word_tokenizer(True))
    state, lp = lm.start_many(PROMPTS)
    toks = [[5, 6, 7], [4, 4, 1], [9, 3, 8], [10, 5, 5]]
    for t in range(3):
        for i, p in enumerate(PROMPTS):
            torch.testing.assert_close(lp[i], lm.next_logprobs(toks[i][:t], p), atol=1e-5, rtol=0)
        state = lm.select(state, torch.arange(4))
        state, lp = lm.step(state, torch.tensor([r[t] for r in toks]))
    with pytest.raises(ValueError, match='prompts: expected at least one prompt'): lm.start_many([])


def test_generate_with_several_prompts_equals_hf_batched_sampling(word_gpt2):
    "One call for several prompts, n rows each: the same draws as HF's generate on the left-padded batch under the same seed."
    tok = word_tokenizer(True)
    tok.padding_side = 'left'
    lm = HFCausalLM(word_gpt2, tok)
    texts = [p for p in PROMPTS if p is not None]
    batch = tok(texts, return_tensors='pt', padding=True)
    for seed in range(3):
        torch.manual_seed(seed)
        out = word_gpt2.generate(**batch, do_sample=True, top_k=0, max_new_tokens=8, num_return_sequences=3, pad_token_id=2)
        seqs, fin, lps = generate(lm, 3, prompts=texts, max_new_tokens=8, seed=seed)
        assert [lm.vocab.strip(r[batch['input_ids'].shape[1]:].tolist()) for r in out] == seqs
        for k, (s, f) in enumerate(zip(seqs, fin)):
            if f: assert abs(lps[k].item() - lm.logprob(s, texts[k // 3]).item()) < 1e-4
    with pytest.raises(TypeError, match='MarkovLM reads one prompt at a time'): generate(MarkovLM.random(3), 2, prompts=[None])
    with pytest.raises(ValueError, match='prompt, prompts'): generate(lm, 2, 'a', prompts=['cat'])


def test_hf_adapter_works_with_a_llama_built_by_automodel_from_config():
    "Another architecture (rotary positions, grouped-query attention) through AutoModelForCausalLM: batches, greedy and beam equal HF's."
    transformers = pytest.importorskip('transformers')
    from mlenb.decoding import greedy, beam_search
    cfg = transformers.LlamaConfig(vocab_size=12, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   num_key_value_heads=1, max_position_embeddings=64, bos_token_id=0, eos_token_id=1, pad_token_id=2)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(cfg).eval()
    lm = HFCausalLM(model)
    prompts = [[3, 4, 5, 6], [7], None]
    state, lp = lm.start_many(prompts)
    state, lp2 = lm.step(state, torch.tensor([5, 5, 6]))
    for i, p in enumerate(prompts):
        torch.testing.assert_close(lp[i], lm.next_logprobs([], p), atol=1e-5, rtol=0)
        torch.testing.assert_close(lp2[i], lm.next_logprobs([[5, 5, 6][i]], p), atol=1e-5, rtol=0)
    ids = torch.tensor([[0, 3, 4]])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        g = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=10, pad_token_id=2, no_repeat_ngram_size=3)
        b = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=3, max_new_tokens=8, pad_token_id=2,
                           no_repeat_ngram_size=2, repetition_penalty=1.3)
    assert lm.vocab.strip(g[0, 3:].tolist()) == greedy(lm, [3, 4], max_new_tokens=10, no_repeat_ngram_size=3).best
    assert lm.vocab.strip(b[0, 3:].tolist()) == beam_search(lm, [3, 4], num_beams=3, max_new_tokens=8, no_repeat_ngram_size=2, repetition_penalty=1.3).best


def test_kl_divergence_of_model_to_itself_is_zero():
    P = MarkovLM.random(4, seed=0)
    r = kl_divergence(P, P, n=100)
    assert r['kl'] == 0 and r['n'] == 100
    with pytest.raises(ValueError, match='n=1'): kl_divergence(P, P, n=1)
