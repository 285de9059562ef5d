#!/usr/bin/env python3
"""The PyTorch side of Launch/bench-vs-pytorch.sh: the same pix2pix training step
(Tests/Pix2PixTests/Fixtures/pt_reference.py, a replica of PT's networks and
Pix2PixModel.optimize_parameters) on synthetic data, timed like `pix2pix bench`.
Never part of the product or of CI. Prints one JSON object."""
import argparse
import json
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Pix2PixTests", "Fixtures"))
import pt_reference as ptr  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--netG", default="unet_256")
p.add_argument("--netD", default="basic")
p.add_argument("--size", type=int, default=256)
p.add_argument("--batch", type=int, default=1)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--steps", type=int, default=10)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--translate", action="store_true", help="time G forward only (pix2pix translate)")
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
G = ptr.define_G(3, 3, 64, a.netG, "batch", True)
D = ptr.define_D(6, 64, a.netD, 3, "batch")
A = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1
B = torch.rand(a.batch, 3, a.size, a.size) * 2 - 1

if a.translate:
    G.eval()
    with torch.no_grad():
        for _ in range(a.warmup):
            G(A)
        t = time.perf_counter()
        for _ in range(a.steps):
            G(A)
        per = (time.perf_counter() - t) / a.steps
else:
    step = ptr.Pix2PixStep(G, D, gan_mode="vanilla", lambda_L1=100.0, lr=2e-4, beta1=0.5)
    for _ in range(a.warmup):
        step.optimize_parameters(A, B)
    t = time.perf_counter()
    for _ in range(a.steps):
        step.optimize_parameters(A, B)
    per = (time.perf_counter() - t) / a.steps
print(json.dumps({
    "framework": "pytorch " + torch.__version__, "netG": a.netG, "size": a.size, "threads": a.threads,
    "s_per_step": per, "images_per_s": a.batch / per,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
