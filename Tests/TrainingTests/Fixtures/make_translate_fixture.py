#!/usr/bin/env python3
# Writes the PyTorch round-trip fixture for TrainingTests (run by hand from the repo root;
# CI never runs it; needs torch + safetensors):
#     /path/to/venv/bin/python Tests/TrainingTests/Fixtures/make_translate_fixture.py
#
# pt_unet32_G.safetensors  a generator state_dict exactly as PyTorch writes it:
#                          safetensors.torch.save_file(netG.state_dict(), path), no metadata
# pt_unet32_io.safetensors x (1,3,32,64) in [-1,1] and PyTorch's outputs:
#                          y_eval (netG.eval()), y_train (netG.train(), dropout off)
# Architecture: PT's unet_32 (5 downsamplings) as PT's define_G builds it, ngf 4, batch norm,
# dropout on; the replica is Tests/Pix2PixTests/Fixtures/pt_reference.py.
import os
import sys

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Pix2PixTests", "Fixtures"))
import pt_reference as ptr  # noqa: E402

torch.manual_seed(7)
torch.set_num_threads(1)
G = ptr.define_G(3, 3, 4, "unet_32", "batch", True)
with torch.no_grad():
    for name, p in G.state_dict().items():
        if name.endswith("num_batches_tracked"):
            p.fill_(12)
        elif name.endswith("running_var"):
            p.copy_(torch.rand_like(p) + 0.5)
        elif name.endswith("running_mean"):
            p.copy_(torch.randn_like(p) * 0.1)
        elif p.dim() == 4:
            fan_in = p.shape[1] * p.shape[2] * p.shape[3]
            p.copy_(torch.randn_like(p) / fan_in ** 0.5)
        elif name.endswith("weight"):
            p.copy_(1 + 0.1 * torch.randn_like(p))
        else:
            p.copy_(0.1 * torch.randn_like(p))
save_file({k: v.contiguous() for k, v in G.state_dict().items()}, os.path.join(HERE, "pt_unet32_G.safetensors"))
x = torch.rand(1, 3, 32, 64) * 2 - 1
with torch.no_grad():
    G.eval()
    y_eval = G(x)
    G.train()
    for m in G.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    y_train = G(x)
save_file({"x": x, "y_eval": y_eval, "y_train": y_train}, os.path.join(HERE, "pt_unet32_io.safetensors"))
print("wrote pt_unet32_G.safetensors and pt_unet32_io.safetensors")
