"""Decision rules of `mlenb.decoding` against oracles: greedy and beam search against Hugging Face's `generate` on
a randomly initialised tiny GPT-2 (same sequences, same scores, for every beam width, length penalty,
early-stopping mode and length tried); exact mode search against MarkovLM's exact mode and brute force, with the
node budget; sampling against the exact distribution (with and without processors); bad input."""
import itertools, math, warnings

import pytest

import hf_models
import torch

from mlenb.lm import MarkovLM, TabularLM, ToyTranslation, Vocab, HFCausalLM, SearchBudgetWarning, LanguageModel
from mlenb.decoding import (greedy, beam_search, exact_mode_search, sample, process_logits, next_token_view, decode, Decoded,
                            analyze_prompt)


# ---------------------------------------------------------------- Hugging Face parity
@pytest.fixture(scope='module', params=[0, 2, 3])   # seeds whose beams end with EOS at times
def tiny_gpt2(request): return hf_models.tiny_gpt2(request.param)


hf_generate = hf_models.hf_generate


@pytest.mark.parametrize('max_new_tokens', [1, 5, 12])
def test_greedy_equals_hf(tiny_gpt2, max_new_tokens):
    model, lm = tiny_gpt2
    out = hf_generate(model, max_new_tokens=max_new_tokens)
    g = greedy(lm, max_new_tokens=max_new_tokens)
    assert lm.vocab.strip(out[0, 1:].tolist()) == g.best
    assert g.finished[0] == (1 in out[0, 1:].tolist())


BEAM_GRID = list(itertools.product([2, 3, 5], [1.0, 0.0, -0.5, 2.0], [False, True, 'never'], [6, 12]))


def test_beam_search_equals_hf(tiny_gpt2):
    "Every setting of the grid: the n-best sequences and their length-penalised scores."
    model, lm = tiny_gpt2
    finished = 0
    for B, lp, es, L in BEAM_GRID:
        n = min(2, B)
        out = hf_generate(model, num_beams=B, max_new_tokens=L, length_penalty=lp, early_stopping=es, num_return_sequences=n,
                          output_scores=True, return_dict_in_generate=True)
        mine = beam_search(lm, num_beams=B, max_new_tokens=L, length_penalty=lp, early_stopping=es, num_return_sequences=n)
        theirs = [lm.vocab.strip(s[1:].tolist()) for s in out.sequences]
        assert theirs == mine.sequences, (B, lp, es, L)
        # a score sums at most L float32 log-probs (relative error <= L * 2**-24 each side) before the length penalty
        tol = 2 * L * 2**-24 * max(1., float(mine.scores.abs().max()))
        torch.testing.assert_close(mine.scores, out.sequences_scores.double(), atol=tol, rtol=0)
        finished += sum(mine.finished)
    assert finished > 20                                       # the grid exercises hypotheses that end with EOS


def test_beam_logprobs_and_tree(tiny_gpt2):
    _, lm = tiny_gpt2
    b = beam_search(lm, num_beams=3, max_new_tokens=8, num_return_sequences=3, length_penalty=0.)
    for s, lp, f in zip(b.sequences, b.logprobs, b.finished):
        want = lm.logprob(s).item() if f else lm.logprob(s).item() - lm.next_logprobs(s)[lm.vocab.eos_id].item()
        assert abs(lp.item() - want) < 1e-4
    tree = b.info['tree']
    ids = {n['id'] for n in tree}
    assert tree[0]['parent'] is None and all(n['parent'] in ids for n in tree[1:])
    assert {n['status'] for n in tree[1:]} <= {'running', 'finished', 'dropped'}
    assert sum(n['status'] == 'finished' for n in tree) >= len(b)
    assert beam_search(lm, num_beams=3, max_new_tokens=8, record_tree=False).info['tree'] is None


# ---------------------------------------------------------------- exact mode search
@pytest.mark.parametrize('seed, order', [(0, 2), (1, 2), (2, 3), (3, 3)])
def test_exact_mode_search_equals_markov_mode(seed, order):
    m = MarkovLM.random(5, order=order, seed=seed, sparsity=0.4)
    for prompt in [None, 'w1']:
        d = exact_mode_search(m, prompt, max_nodes=200_000)
        mode, lp = m.exact_mode(prompt)
        assert d.info['exact'] and abs(d.logprobs[0].item() - lp) < 1e-9
        assert abs(m.logprob(d.best, prompt).item() - lp) < 1e-9


def test_exact_mode_search_with_length_limit_against_brute_force():
    m = MarkovLM.random(3, order=2, seed=4, eos_weight=0.3)          # long sequences: the limit binds
    words = [2, 3, 4]
    for L in [1, 2, 4]:
        seqs = [list(s) for k in range(L) for s in itertools.product(words, repeat=k)]
        best = m.logprob(seqs).max().item()
        d = exact_mode_search(m, max_new_tokens=L)
        assert len(d.best) <= L - 1 and abs(d.logprobs[0].item() - best) < 1e-9


def test_exact_mode_search_on_translation_finds_the_copy_or_the_best():
    task = ToyTranslation(seed=0)
    for x in task.sources(8, seed=3):
        p = task.prompt(x)
        mode, lp = task.exact_mode(p)
        d = exact_mode_search(task, p, batch_size=4)
        assert abs(d.logprobs[0].item() - lp) < 1e-12


def test_exact_mode_search_budget():
    m = MarkovLM.random(8, order=2, seed=0, eos_weight=0.05)      # ending is expensive: many prefixes are cheaper than the mode
    with pytest.warns(SearchBudgetWarning, match='max_nodes=3'):
        d = exact_mode_search(m, max_nodes=3, batch_size=1)
    lp = m.exact_mode()[1]
    assert not d.info['exact'] and d.info['nodes'] <= 3
    assert d.logprobs[0].item() <= lp + 1e-12 <= d.info['upper_bound'] + 1e-12
    assert abs(m.logprob(d.best).item() - d.logprobs[0].item()) < 1e-9


def test_exact_mode_beats_beam_and_greedy():
    for seed in range(5):
        m = MarkovLM.random(6, order=2, seed=seed, eos_weight=2.)
        e = exact_mode_search(m, max_nodes=100_000).logprobs[0].item()
        for d in (greedy(m), beam_search(m, num_beams=4, length_penalty=0.)):
            if d.finished[0]: assert d.logprobs[0].item() <= e + 1e-9


# ---------------------------------------------------------------- sampling
def test_sampling_matches_exact_distribution():
    v = Vocab.build(['a', 'b', 'c'])
    t = TabularLM(v, ['a', 'a b', '', 'c c', 'b a b'], [.35, .2, .05, .3, .1])
    s = sample(t, num_samples=20000, seed=0)
    seqs, lps, _ = t.support()
    for q, lp in zip(seqs, lps):
        f = sum(x == q for x in s.sequences) / len(s)
        assert abs(f - lp.exp().item()) < 4 * math.sqrt(lp.exp().item() / len(s)) + 1e-3


@pytest.mark.parametrize('knobs', [dict(top_k=2), dict(top_p=0.6), dict(temperature=0.5), dict(min_p=0.5), dict(typical_p=0.5), dict(epsilon_cutoff=0.2)])
def test_sampling_first_token_follows_processed_distribution(knobs):
    m = MarkovLM.random(5, order=2, seed=3)
    s = sample(m, num_samples=20000, max_new_tokens=1, seed=1, **knobs)
    want = process_logits(m.next_logprobs([]), **knobs).softmax(-1)
    got = torch.bincount(torch.tensor([q[0] if q else m.vocab.eos_id for q in s.sequences]), minlength=len(m.vocab)).double() / len(s)
    assert torch.all((got - want).abs() < 4 * (want / len(s)).sqrt() + 1e-3), (got, want)
    assert torch.all(got[want == 0] == 0)


def test_sampling_scores_under_the_model_and_is_reproducible():
    task = ToyTranslation(seed=0)
    p = task.prompt('hund mag katze')
    a = sample(task, p, num_samples=50, seed=3, top_k=2)
    assert a.sequences == sample(task, p, num_samples=50, seed=3, top_k=2).sequences
    assert a.sequences != sample(task, p, num_samples=50, seed=4, top_k=2).sequences
    torch.testing.assert_close(a.logprobs, task.logprob(a.sequences, p))
    assert sample(task, p, num_samples=5, seed=0, top_k=1).sequences == [greedy(task, p).best] * 5


def test_next_token_view_reports_cuts():
    m = MarkovLM.random(10, order=2, seed=0, sparsity=0.)
    v = next_token_view(m, top=None, top_k=6, top_p=0.6, min_p=0.2)
    assert len(v['tokens']) == len(m.vocab) and v['tokens'][0] == m.vocab.itos[v['ids'][0]]
    assert all(p >= q for p, q in zip(v['probs'], v['probs'][1:]))
    assert set(v['removed_by']) <= {None, 'top_k', 'top_p', 'min_p'} and 'top_k' in v['removed_by']
    kept = process_logits(m.next_logprobs([]), top_k=6, top_p=0.6, min_p=0.2).isfinite()
    assert [kept[i].item() for i in v['ids']] == v['kept']
    assert abs(sum(v['processed_probs']) - 1) < 1e-9


# ---------------------------------------------------------------- bad input, named
M = MarkovLM.random(4, seed=0)

@pytest.mark.parametrize('call, arg', [
    (lambda: greedy(M, max_new_tokens=0), 'max_new_tokens=0'),
    (lambda: beam_search(M, num_beams=0), 'num_beams=0'),
    (lambda: beam_search(M, num_beams=2, num_return_sequences=3), 'num_return_sequences=3'),
    (lambda: beam_search(M, early_stopping='sometimes'), 'early_stopping'),
    (lambda: beam_search(M, max_new_tokens=0), 'max_new_tokens=0'),
    (lambda: exact_mode_search(M, max_nodes=0), 'max_nodes=0'),
    (lambda: sample(M, num_samples=0), 'num_samples=0'),
    (lambda: sample(M, temperature=0.), 'temperature=0.0'),
    (lambda: sample(M, temperature=-1.), 'temperature=-1.0'),
    (lambda: sample(M, top_p=0.), 'top_p=0.0'),
    (lambda: sample(M, top_p=1.2), 'top_p=1.2'),
    (lambda: sample(M, top_k=-1), 'top_k=-1'),
    (lambda: sample(M, max_new_tokens=0), 'max_new_tokens=0'),
    (lambda: greedy(M, prompt='w1 nope'), "unknown token 'nope'"),
    (lambda: M.logprob(['w1 zz']), "unknown token 'zz'"),
    (lambda: decode(M, 'beam', num_beams=0), 'num_beams=0'),
])
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(ValueError, match=arg): call()


def test_decoded_as_dict_is_plain():
    "as_dict survives a JSON round trip unchanged and holds what the Decoded holds."
    import json
    d = beam_search(MarkovLM.random(4, seed=0, eos_weight=3.), num_beams=2, max_new_tokens=10)
    plain = d.as_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert plain['texts'] == d.texts and plain['sequences'] == d.sequences and plain['finished'] == list(d.finished)
    assert plain['logprobs'] == d.logprobs.tolist() and len(plain['texts']) == len(d) >= 1


def test_analyze_prompt_gives_each_rule_its_own_draws():
    "Rule j draws with seed + j, so two sampling rules never show one and the same sample."
    task = ToyTranslation(seed=0)
    prompt = task.prompt(task.sources(1, seed=1)[0])
    a = analyze_prompt(task, prompt, rules=[dict(name='a', rule='sample'), dict(name='b', rule='sample')], seed=5, num_samples=10)
    for j, r in enumerate(a['rules']):
        assert r['output'] == decode(task, dict(rule='sample'), prompt, seed=5 + j).text


def test_beam_tree_holds_only_real_prefixes():
    "With 2*num_beams above the first step's candidates, the start's placeholder beams grow nothing into the tree."
    from mlenb.lm import ToyTranslation
    task = ToyTranslation(seed=0)
    src = task.prompt(task.sources(1, seed=1)[0])
    first = int(torch.isfinite(task.next_logprobs([], src)).sum())
    B = first                                                    # 2*B candidates, of which `first` are real at step 1
    b = beam_search(task, src, num_beams=B, max_new_tokens=6, length_penalty=0.)
    tree = b.info['tree']
    ids = {n['id'] for n in tree}
    assert all(n['parent'] in ids for n in tree[1:]) and all(n['logprob'] > -1e8 for n in tree)   # no -1e9 placeholders
    roots = [n for n in tree if n['parent'] == 0]
    assert len(roots) == len({n['token'] for n in roots}) == min(first, 2 * B)                   # one child per real first token
    for n in tree[1:]:                                           # every node's score is log P(its prefix)
        path, m = [], n
        while m['parent'] is not None: path.append(m['token']); m = next(x for x in tree if x['id'] == m['parent'])
        path = path[::-1]
        want = sum(task.next_logprobs(path[:t], src)[path[t]].double().item() for t in range(len(path)))
        assert abs(n['logprob'] - want) <= 2 * len(path) * 2**-24 * max(1., abs(want)), n   # float32 sums
