"A tiny random GPT-2 built from a config (no download), and Hugging Face's `generate` from BOS: the decoding tests' oracle."
import warnings
import pytest
import torch

from mlenb.lm import HFCausalLM


def tiny_gpt2(seed:int)->tuple:
    "`(model, HFCausalLM(model))`: 8 tokens (BOS 0, EOS 1), 2 layers, embeddings scaled 3x so that EOS is chosen at times."
    transformers = pytest.importorskip('transformers')
    transformers.logging.set_verbosity_error()
    cfg = transformers.GPT2Config(vocab_size=8, n_positions=64, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=1)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad(): model.transformer.wte.weight.mul_(3.)         # peakier next-token distributions: EOS is chosen sometimes
    return model, HFCausalLM(model)


def hf_generate(model, **kw):
    "`model.generate` from BOS alone, greedy unless `kw` says otherwise."
    ids = torch.tensor([[0]])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return model.generate(ids, attention_mask=torch.ones_like(ids), pad_token_id=1, **{'do_sample': False, **kw})
