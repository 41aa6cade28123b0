"Helpers shared by the flow test files: noise on a layer's parameters, and a data-initialised ActNorm."
import torch
from torch import nn

from mlenb.flows import ActNorm


def perturb(t:nn.Module, scale:float=0.3, seed:int=0)->nn.Module:
    "Noise on every parameter: a fresh layer is the identity, a perturbed one a generic (context-dependent) bijection."
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in t.parameters(): p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)
    return t


def actnorm(d:int)->ActNorm:
    "An ActNorm of dimension `d` initialised on seeded data (scale 2, shift 1), so it is not the identity."
    a = ActNorm(d)
    a.initialize(torch.randn(64, d, generator=torch.Generator().manual_seed(1)) * 2 + 1)
    return a
