"""MBR and the analysis of `mlenb.decoding`: mbr_select against a brute-force expected utility computed with sacrebleu,
its fast variants (aggregation, pruning) with their utility-call accounting, aggregate chrF against a plain-Python
reference from Vamvas & Sennrich's definition (and fastchrf's aggregate_chrf where installed), mbr_decode's de-duplication against
the naive estimate, and compare_rules / analyze_prompt on known-P models (the published findings as properties)."""
import json, math, random
from collections import Counter

import pytest
import torch

from mlenb.lm import MarkovLM, ToyTranslation, Vocab, TabularLM
from mlenb.decoding import (mbr_select, mbr_decode, sample, chrf_matrix, compare_rules, analyze_prompt, decode, RULE_PRESETS,
                            beam_search, greedy, exact_mode_search)


WORDS = 'the a cat dog sat sits on mat rug big small red quickly today'.split()

def texts(n, seed):
    rng = random.Random(seed)
    return [' '.join(rng.choice(WORDS) for _ in range(rng.randint(0, 8))) for _ in range(n)]


@pytest.mark.parametrize('utility', ['chrf', 'bleu'])
def test_mbr_select_equals_brute_force_with_sacrebleu(utility):
    sacrebleu = pytest.importorskip('sacrebleu')
    hy, rf = texts(12, 0), texts(20, 1)
    w = torch.rand(len(rf), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    score = (lambda h, r: sacrebleu.sentence_chrf(h, [r]).score) if utility == 'chrf' else (lambda h, r: sacrebleu.sentence_bleu(h, [r]).score)
    eu = torch.tensor([sum(wi * score(h, r) for wi, r in zip(w / w.sum(), rf)) for h in hy], dtype=torch.float64)
    res = mbr_select(hy, rf, w, utility=utility)
    torch.testing.assert_close(res.expected_utility, eu, atol=1e-9, rtol=0)
    assert res.index == int(eu.argmax()) and res.hypothesis == hy[res.index]
    assert res.utility_calls == len(hy) * len(rf) and res.seconds > 0 and res.method == 'exact'
    json.dumps(res.as_dict())


def test_edit_and_exact_utilities():
    hy = ['a b c', 'a b', 'x']
    assert mbr_select(hy, ['a b c', 'a b c', 'a b'], utility='exact').hypothesis == 'a b c'
    assert mbr_select(hy, ['a b', 'a b', 'a b c'], utility='edit').hypothesis == 'a b'


def test_pruning_keeps_the_winner_and_saves_calls():
    rng = random.Random(3)
    base = 'the big cat sat on the red mat today'.split()
    pool = [' '.join(w for w in base if rng.random() < 0.85) for _ in range(128)]
    exact = mbr_select(pool)
    pr = mbr_select(pool, method='prune', schedule=[8, 16, 32, 64, 128], alpha=0.99, seed=0)
    assert pr.hypothesis == exact.hypothesis or abs(exact.expected_utility[pr.index] - exact.expected_utility.max()) < 0.5
    assert pr.utility_calls < exact.utility_calls / 2
    assert pr.info['rounds'][0] == dict(references=8, alive=128)
    alive = ~pr.expected_utility.isnan()
    torch.testing.assert_close(pr.expected_utility[alive], exact.expected_utility[alive], atol=1e-9, rtol=0)   # survivors saw every reference


def test_aggregation_is_close_and_linear():
    rng = random.Random(4)
    base = 'the big cat sat on the red mat today'.split()
    pool = [' '.join(w for w in base if rng.random() < 0.8) for _ in range(64)]
    exact, agg = mbr_select(pool), mbr_select(pool, method='aggregate')
    assert agg.utility_calls == 64
    assert exact.expected_utility[agg.index] >= exact.expected_utility.max() - 2.0      # near the exact choice
    with pytest.raises(ValueError, match="utility='edit'"): mbr_select(pool, utility='edit', method='aggregate')


def char_ngrams(text, n):
    t = ''.join(text.split())
    return Counter(t[i:i + n] for i in range(len(t) - n + 1))


def aggregate_chrf_reference(hyp, refs, weights=None, char_order=6, beta=2.0):
    "Vamvas & Sennrich's aggregate chrF from the definition: chrF (sacrebleu's, no eps smoothing) against the weighted mean n-gram count vector."
    w = [1.0] * len(refs) if weights is None else [float(x) for x in weights]
    P = R = 0.0; eff = 0
    for n in range(1, char_order + 1):
        avg = Counter()
        for r, wr in zip(refs, w):
            for g, c in char_ngrams(r, n).items(): avg[g] += wr * c / sum(w)
        h = char_ngrams(hyp, n)
        n_ref = sum(avg.values()); n_hyp = sum(h.values()) if n_ref > 0 else 0
        match = sum(min(c, avg[g]) for g, c in h.items() if g in avg)
        if n_hyp > 0 and n_ref > 0: P += match / n_hyp; R += match / n_ref; eff += 1
    P, R, f = (P / eff, R / eff, beta ** 2) if eff else (0.0, 0.0, beta ** 2)
    return 100 * (1 + f) * P * R / (f * P + R) if P + R > 0 else 0.0


MIXED = ['the dog', 'the big dog', '', 'a', 'ab', ' ', 'dogs and cats and dogs', 'ab' * 40, 'the ' * 30, 'xyz abc', 'big']

@pytest.mark.parametrize('num_groups', [1, 3])
def test_aggregate_chrf_equals_the_definition(num_groups):
    "References of mixed lengths, empty and shorter than the n-gram order included, with weights (zero ones too) and groups."
    hy, rf = MIXED + texts(6, 5), MIXED[::-1] + texts(5, 6)
    w = torch.rand(len(rf), generator=torch.Generator().manual_seed(1), dtype=torch.float64); w[3] = 0.
    res = mbr_select(hy, rf, w, method='aggregate', num_groups=num_groups)
    groups = [[i for i in range(len(rf)) if i * num_groups // len(rf) == k] for k in range(num_groups)]   # mlenb's contiguous groups
    gw = [float(w[g].sum()) for g in groups]
    want = [sum(gw[k] / sum(gw) * aggregate_chrf_reference(h, [rf[i] for i in g], w[g].tolist()) for k, g in enumerate(groups)) for h in hy]
    torch.testing.assert_close(res.expected_utility, torch.tensor(want, dtype=torch.float64), atol=1e-9, rtol=0)


def test_aggregate_chrf_issue_example():
    r = mbr_select(['the dog'], ['the big dog', ''], method='aggregate')
    assert abs(r.expected_utility.item() - aggregate_chrf_reference('the dog', ['the big dog', ''])) < 1e-9
    assert abs(r.expected_utility.item() - 24.733963134891546) < 1e-9       # fastchrf 0.2.1's aggregate_chrf, and mbrs


def test_aggregate_chrf_reference_agrees_with_fastchrf():
    "The reference above against fastchrf's aggregate_chrf (the Vamvas & Sennrich implementation), where fastchrf is installed."
    fastchrf = pytest.importorskip('fastchrf')
    hy, rf = MIXED + texts(6, 7), MIXED + texts(9, 8)
    got = fastchrf.aggregate_chrf([hy], [rf])[0]
    want = [aggregate_chrf_reference(h, rf) for h in hy]
    assert max(abs(a - b) for a, b in zip(got, want)) < 1e-9
    torch.testing.assert_close(mbr_select(hy, rf, method='aggregate').expected_utility, torch.tensor(got, dtype=torch.float64), atol=1e-9, rtol=0)


def test_mbr_decode_dedupes_like_the_naive_estimate():
    task = ToyTranslation(seed=0)
    p = task.prompt('katze sieht hund')
    d = mbr_decode(task, p, num_samples=48, seed=2)
    s = sample(task, p, num_samples=48, seed=2)
    U = chrf_matrix(s.texts)
    naive = U.mean(1)                                            # every sample against every sample, repeats included
    best = s.texts[int(naive.argmax())]
    assert d.text == best and abs(d.scores[0].item() - naive.max().item()) < 1e-9
    assert d.info['num_references'] == len(set(s.texts)) and d.info['utility_calls'] == d.info['num_candidates'] * d.info['num_references']
    assert (d.scores[:-1] >= d.scores[1:]).all()
    torch.testing.assert_close(d.logprobs, task.logprob(d.sequences, p))


def test_mbr_decode_candidates_from_any_source():
    task = ToyTranslation(seed=0)
    p = task.prompt('hund mag katze')
    nb = beam_search(task, p, num_beams=4, num_return_sequences=4)
    d = mbr_decode(task, p, num_samples=32, seed=0, candidates=nb)
    assert set(d.texts) <= set(nb.texts) and d.info['num_candidates'] == len(set(nb.texts))
    d2 = mbr_decode(task, p, num_samples=32, seed=0, candidates={'top_k': 2}, references={'temperature': 1.5}, method='prune')
    assert d2.info['method'] == 'prune'
    d3 = mbr_decode(task, p, num_samples=16, seed=0, candidates=['dog likes cat', 'hund mag katze'], utility='edit')
    assert d3.info['num_candidates'] == 2
    with pytest.raises(ValueError, match='num_samples=0'): mbr_decode(task, p, num_samples=0)


# ---------------------------------------------------------------- analysis
def test_compare_rules_on_translation_reproduces_eikema_aziz():
    "On the true P: the mode is rare and inadequate; MBR has higher expected utility than the mode, and MBR-from-support has none."
    task = ToyTranslation(seed=0)
    prompts = [task.prompt(x) for x in task.sources(10, seed=0)]
    table, rows = compare_rules(task, ['greedy', 'beam', 'mode', 'sample', 'mbr'], prompts, true_lm=task, per_input=True)
    by = {r['rule']: r for r in table}
    assert by['mode']['is_mode'] == 1.0 and by['mode']['mode_mass'] < 0.1
    assert by['mbr']['expected_utility'] > by['mode']['expected_utility'] and by['mbr']['regret'] < by['mode']['regret']
    assert by['sample']['regret'] > by['mbr']['regret']
    assert all(r['regret'] >= -1e-9 for r in rows)                 # no output beats the exact optimum over the support
    assert len(rows) == 50 and {'self_bleu', 'distinct_2', 'repetition', 'zipf', 'length_ratio', 'empty'} <= set(table[0])
    json.dumps(table)


def test_compare_rules_beam_prefers_short_outputs_when_truncations_are_common():
    "Stahlberg & Byrne: with much truncation noise, exact search returns the empty output; wider beams get shorter."
    task = ToyTranslation(seed=0, truncate_prob=0.4, copy_prob=0.02)
    prompts = [task.prompt(x) for x in task.sources(8, seed=1)]
    table = compare_rules(task, ['greedy', dict(name='beam10', rule='beam', num_beams=10, length_penalty=0.), 'mode'], prompts, true_lm=task)
    by = {r['rule']: r for r in table}
    assert by['mode']['empty'] > 0.5
    assert by['beam10']['length'] <= by['greedy']['length'] and by['mode']['length'] <= by['beam10']['length']


def test_compare_rules_on_markov_and_a_learned_model():
    "Holtzman et al.: greedy loops and repeats itself; sampling does not. The empty output is the mode of a random bigram."
    P = MarkovLM.random(5, order=2, seed=0, eos_weight=0.5)
    Q = MarkovLM.fit(P.sample(300, seed=1), order=2, smoothing=0.1, vocab=P.vocab)
    table = compare_rules(Q, ['greedy', 'nucleus', 'mode'], true_lm=P, repeats=6, max_new_tokens=30, utility='edit', max_support=200)
    by = {r['rule']: r for r in table}
    assert by['greedy']['n'] == 6 and abs(by['greedy']['self_bleu'] - 100) < 1e-9           # the same output every time ...
    assert by['greedy']['repetition'] == 1.0 and by['greedy']['unfinished'] == 1.0           # ... a loop cut at max_new_tokens
    assert by['nucleus']['repetition'] < 1 and by['nucleus']['self_bleu'] < 100
    assert by['mode']['empty'] == 1.0 and by['mode']['is_mode'] == 1.0
    assert all(math.isfinite(r['expected_utility']) for r in table)


def test_analyze_prompt_is_plain_data():
    task = ToyTranslation(seed=0)
    p = task.prompt('klein katze heute')
    a = analyze_prompt(task, p, rules=['greedy', 'beam', 'mode', 'top_k', 'mbr'], true_lm=task, num_samples=30, seed=1)
    json.dumps(a)
    assert [r['rule'] for r in a['rules']] == ['greedy', 'beam', 'mode', 'top_k', 'mbr']
    assert a['next_token_knobs'] == {'top_k': 10} and len(a['next_token']['tokens']) <= 20
    assert len(a['samples']['true_logprobs']) == 30 and a['truth']['exact']
    mode = a['rules'][2]
    assert mode['output'] == a['truth']['mode'] and abs(math.exp(mode['true_logprob']) - a['truth']['mode_mass']) < 1e-12
    assert a['rules'][1]['decoded']['info']['tree'][0]['parent'] is None


@pytest.mark.parametrize('name', list(RULE_PRESETS))
def test_rule_preset_gives_a_possible_output_again_under_its_seed(name):
    "Every preset: an output the model can produce (its log p is the model's, finite), within max_new_tokens, the same under the same seed."
    task = ToyTranslation(seed=0)
    p = task.prompt('hund sieht katze')
    d = decode(task, name, p, seed=0, max_new_tokens=10)
    assert d.info['rule'] == name and len(d.best) <= 10
    assert all(d.finished)                                             # the toy task always ends within 10 tokens
    lp = task.logprob(d.sequences, p)                                  # the model's own log p of what the rule chose
    assert torch.isfinite(lp).all() and torch.allclose(d.logprobs, lp, atol=1e-9, rtol=0)
    assert decode(task, name, p, seed=0, max_new_tokens=10).texts == d.texts
