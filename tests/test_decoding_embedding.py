"""`EmbeddingUtility` with a config-built tiny BERT (mean pooled) against a direct computation, its cache, and
`mbr_select(method='centroid')` against an independent reference written from mbrs 0.1.8's `DecoderCentroidMBR` and
`Kmeans` (k-means++ from the same seeded generator, Lloyd steps, scores against the centroids weighted by cluster)."""
import pytest
import torch

from mlenb.decoding import EmbeddingUtility, utility_matrix, mbr_select, _kmeans

transformers = pytest.importorskip('transformers')


@pytest.fixture(scope='module')
def bert():
    "A random 2-layer BERT over characters (ids = code point % 50 + 1), mean-pooled over the unpadded tokens."
    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    model = transformers.BertModel(transformers.BertConfig(vocab_size=52, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                                           intermediate_size=32, max_position_embeddings=64)).eval()
    def ids(texts):
        rows = [[ord(c) % 50 + 1 for c in t][:60] or [51] for t in texts]
        T = max(map(len, rows))
        return torch.tensor([r + [0] * (T - len(r)) for r in rows]), torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    @torch.no_grad()
    def embed(texts):
        i, m = ids(texts)
        h = model(input_ids=i, attention_mask=m).last_hidden_state
        return (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)
    return embed


TEXTS = ['the cat sat', 'a cat sat', 'the dog ran', 'the cat sat', '', 'dogs run', 'cats sit on mats', 'x', 'the cat sat.', 'ran']


def test_embedding_utility_equals_direct_computation(bert):
    calls = []
    u = EmbeddingUtility(lambda ts: calls.append(list(ts)) or bert(ts), batch_size=3)
    U = utility_matrix(TEXTS, TEXTS[:6], u)
    E = torch.cat([bert([t]) for t in TEXTS]).double()
    E = E / E.norm(dim=1, keepdim=True)
    torch.testing.assert_close(U, E @ E[:6].T, atol=1e-6, rtol=0)
    assert sorted(t for c in calls for t in c) == sorted(set(TEXTS)) and max(map(len, calls)) <= 3   # each distinct text once
    utility_matrix(TEXTS[:4], None, u)
    assert sum(map(len, calls)) == len(set(TEXTS))                                                    # cached across calls
    d = EmbeddingUtility(bert, similarity='dot')(TEXTS[:3], TEXTS[3:5])
    torch.testing.assert_close(d, bert(TEXTS[:3]).double() @ bert(TEXTS[3:5]).double().T, atol=1e-5, rtol=0)


def reference_kmeans(x, k, niter=5, seed=0):
    "mbrs' Kmeans.train, rewritten: k-means++ (the same seeded draws), then Lloyd steps until the assignment stops changing."
    if len(x) <= k: return x, list(range(len(x)))
    g = torch.Generator().manual_seed(seed)
    cents = [x[int(torch.randint(len(x), (1,), generator=g))]]
    for _ in range(k - 1):
        d = torch.stack([((x - c) ** 2).sum(1) for c in cents]).min(0).values.float().clamp(min=1e-5)
        cents.append(x[int(torch.multinomial(d / d.sum(), 1, generator=g))])
    cents, assign = torch.stack(cents), None
    for _ in range(niter):
        new = [int(min(range(k), key=lambda j: float(((r - cents[j]) ** 2).sum()))) for r in x]
        if new == assign: break
        assign = new
        for j in range(k):
            members = [r for r, a in zip(x, assign) if a == j]
            if members: cents[j] = torch.stack(members).mean(0)
    return cents, assign


@pytest.mark.parametrize('k', [1, 2, 3, 20])
def test_centroid_mbr_equals_reference(bert, k):
    u = EmbeddingUtility(bert)
    hyps, refs = TEXTS[:7], TEXTS + ['cat', 'the cats sat', 'a dog']
    uniq = list(dict.fromkeys(refs))
    E = u.embeddings(uniq)
    c, a = reference_kmeans(E, k)
    w = torch.zeros(len(c), dtype=torch.float64)
    for r in refs: w[a[uniq.index(r)]] += 1 / len(refs)
    H = u.embeddings(hyps)
    cos = (H / H.norm(dim=1, keepdim=True)) @ (c / c.norm(dim=1, keepdim=True)).T
    got = mbr_select(hyps, refs, utility=u, method='centroid', num_centroids=k)
    torch.testing.assert_close(got.expected_utility, cos @ w, atol=1e-9, rtol=0)
    assert got.index == int((cos @ w).argmax()) and got.info['num_centroids'] == len(c)
    if k >= len(uniq):                                            # every reference its own centroid: exact MBR
        torch.testing.assert_close(got.expected_utility, mbr_select(hyps, refs, utility=u).expected_utility, atol=1e-9, rtol=0)


def test_kmeans_is_deterministic_and_assigns_to_the_nearest():
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    c, a = _kmeans(x, 4)
    c2, a2 = _kmeans(x, 4)
    assert torch.equal(c, c2) and torch.equal(a, a2)
    rc, ra = reference_kmeans(x, 4)
    torch.testing.assert_close(c, rc); assert a.tolist() == ra


@pytest.mark.parametrize('call, msg', [
    (lambda e: EmbeddingUtility('bert'), "embed='bert'"),
    (lambda e: EmbeddingUtility(e, similarity='l2'), "similarity='l2'"),
    (lambda e: EmbeddingUtility(e, batch_size=0), 'batch_size=0'),
    (lambda e: EmbeddingUtility(lambda ts: torch.zeros(len(ts) + 1, 2))(['a']), r'embed: returned shape \(2, 2\)'),
    (lambda e: EmbeddingUtility(lambda ts: torch.full((len(ts), 2), float('nan')))(['a']), 'embed: returned NaN'),
    (lambda e: mbr_select(['a', 'b'], method='centroid'), "method='centroid' needs an EmbeddingUtility"),
    (lambda e: mbr_select(['a', 'b'], utility=EmbeddingUtility(e), method='centroid', num_centroids=0), 'num_centroids=0'),
])
def test_bad_arguments(bert, call, msg):
    with pytest.raises((ValueError, TypeError), match=msg): call(bert)
