#!/usr/bin/env python3
# SSIM reference for TrainingTests (run by hand; CI never runs it; needs numpy, scikit-image,
# safetensors): two 3×20×24 images in [0, 1] and scikit-image's mean SSIM over channels with
# gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.
#     /path/to/venv/bin/python Tests/TrainingTests/Fixtures/make_ssim_fixture.py
import os

import numpy as np
import torch
from safetensors.torch import save_file
from skimage.metrics import structural_similarity

rng = np.random.default_rng(0)
x = rng.random((3, 20, 24)).astype(np.float32)
y = np.clip(x * 0.7 + 0.2 * rng.random((3, 20, 24)), 0, 1).astype(np.float32)
v = np.mean([structural_similarity(x[c].astype(np.float64), y[c].astype(np.float64), gaussian_weights=True,
                                   sigma=1.5, use_sample_covariance=False, data_range=1.0) for c in range(3)])
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ssim.safetensors")
save_file({"x": torch.from_numpy(x), "y": torch.from_numpy(y)}, out, metadata={"ssim": repr(float(v))})
os.chmod(out, 0o644)
print("ssim", v)
