#!/usr/bin/env python3
"""Generate PyTorch reference fixtures for the Swift layer tests.

What it writes:
    One small `<case>.safetensors` file per test case into the directory that
    holds this script (Tests/LayersTests/Fixtures/). Each file contains the
    input `x`, output `y`, upstream gradient `dy`, input gradient `dx`, layer
    parameters / gradients under their PyTorch names (`weight`, `bias`,
    `dweight`, `dbias`), BatchNorm running buffers, loss values and gradients,
    and Adam optimizer trajectories, depending on the case. The safetensors
    metadata always carries "layer" plus the constructor arguments as strings
    (integers in decimal, booleans as "true"/"false", floats via repr()).

How to run (from the repository root):
    /path/to/venv/bin/python Tests/LayersTests/Fixtures/make_layer_fixtures.py

Requirements:
    torch, safetensors and numpy in the Python environment used above.
    This script is run by hand only; CI never runs it. The generated
    .safetensors files are checked in and read by the Swift tests.

Determinism: every case calls torch.manual_seed(0) first, uses float32 and a
single CPU thread.
"""

import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

OUT_DIR = os.path.dirname(os.path.abspath(__file__))

torch.set_num_threads(1)
torch.set_default_dtype(torch.float32)

WRITTEN = []


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def meta_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_case(name, tensors, layer, **params):
    out = {}
    for k, t in tensors.items():
        t = t.detach().cpu()
        if t.is_floating_point():
            t = t.to(torch.float32)
        out[k] = t.contiguous().clone()
    metadata = {"layer": layer}
    for k, v in params.items():
        metadata[k] = meta_value(v)
    path = os.path.join(OUT_DIR, name + ".safetensors")
    save_file(out, path, metadata=metadata)
    os.chmod(path, 0o644)  # safetensors creates files 0600
    WRITTEN.append((name, path, metadata, {k: tuple(v.shape) for k, v in out.items()}))


def no_zero_randn(*shape):
    """randn with every element bounded away from zero (keeps sign)."""
    x = torch.randn(*shape)
    small = x.abs() < 1e-2
    x[small] = torch.where(x[small] >= 0, torch.tensor(0.5), torch.tensor(-0.5))
    return x


def forward_backward(module, x):
    """Run y = module(x), y.backward(dy); returns (y, dy, dx)."""
    x = x.clone().requires_grad_(True)
    y = module(x)
    dy = torch.randn(y.shape)
    y.backward(dy)
    return y, dy, x.grad


# --------------------------------------------------------------------------
# Conv2d
# --------------------------------------------------------------------------

def conv_case(name, x_shape, out_ch, k, s, p, bias):
    torch.manual_seed(0)
    in_ch = x_shape[1]
    m = nn.Conv2d(in_ch, out_ch, k, stride=s, padding=p, bias=bias)
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape) * 0.1)
        if bias:
            m.bias.copy_(torch.randn(m.bias.shape) * 0.1)
    x = torch.randn(*x_shape)
    y, dy, dx = forward_backward(m, x)
    t = {"x": x, "y": y, "dy": dy, "dx": dx,
         "weight": m.weight, "dweight": m.weight.grad}
    if bias:
        t["bias"] = m.bias
        t["dbias"] = m.bias.grad
    write_case(name, t, "Conv2d", in_channels=in_ch, out_channels=out_ch,
               kernel_size=k, stride=s, padding=p, bias=bias)


# --------------------------------------------------------------------------
# ConvTranspose2d
# --------------------------------------------------------------------------

def convt_case(name, x_shape, out_ch, k, s, p, op, bias):
    torch.manual_seed(0)
    in_ch = x_shape[1]
    m = nn.ConvTranspose2d(in_ch, out_ch, k, stride=s, padding=p,
                           output_padding=op, bias=bias)
    with torch.no_grad():
        m.weight.copy_(torch.randn(m.weight.shape) * 0.1)
        if bias:
            m.bias.copy_(torch.randn(m.bias.shape) * 0.1)
    x = torch.randn(*x_shape)
    y, dy, dx = forward_backward(m, x)
    t = {"x": x, "y": y, "dy": dy, "dx": dx,
         "weight": m.weight, "dweight": m.weight.grad}
    if bias:
        t["bias"] = m.bias
        t["dbias"] = m.bias.grad
    write_case(name, t, "ConvTranspose2d", in_channels=in_ch,
               out_channels=out_ch, kernel_size=k, stride=s, padding=p,
               output_padding=op, bias=bias)


# --------------------------------------------------------------------------
# BatchNorm2d
# --------------------------------------------------------------------------

def bn_case(name, x_shape, training):
    torch.manual_seed(0)
    c = x_shape[1]
    momentum, eps = 0.1, 1e-5
    m = nn.BatchNorm2d(c, eps=eps, momentum=momentum, affine=True)
    with torch.no_grad():
        m.weight.copy_(torch.randn(c) * 0.2 + 1.0)
        m.bias.copy_(torch.randn(c) * 0.1)
        m.running_mean.copy_(torch.randn(c) * 0.1)
        m.running_var.copy_(torch.rand(c) + 0.5)
        m.num_batches_tracked.zero_()
    running_mean0 = m.running_mean.clone()
    running_var0 = m.running_var.clone()
    m.train(training)
    x = torch.randn(*x_shape)
    y, dy, dx = forward_backward(m, x)
    t = {"x": x, "y": y, "dy": dy, "dx": dx,
         "weight": m.weight, "bias": m.bias,
         "dweight": m.weight.grad, "dbias": m.bias.grad,
         "running_mean": running_mean0, "running_var": running_var0,
         "running_mean_after": m.running_mean,
         "running_var_after": m.running_var,
         "num_batches_tracked_after": m.num_batches_tracked.to(torch.int64).reshape(())}
    write_case(name, t, "BatchNorm2d", in_channels=c, training=training,
               momentum=momentum, eps=eps, affine=True)


# --------------------------------------------------------------------------
# InstanceNorm2d
# --------------------------------------------------------------------------

def in_case(name, x_shape):
    torch.manual_seed(0)
    c = x_shape[1]
    eps = 1e-5
    m = nn.InstanceNorm2d(c, eps=eps, affine=False, track_running_stats=False)
    x = torch.randn(*x_shape)
    y, dy, dx = forward_backward(m, x)
    write_case(name, {"x": x, "y": y, "dy": dy, "dx": dx}, "InstanceNorm2d",
               in_channels=c, eps=eps, affine=False, training=True)


# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------

def act_case(name, module, layer, **params):
    torch.manual_seed(0)
    x = no_zero_randn(2, 3, 4, 5)
    y, dy, dx = forward_backward(module, x)
    write_case(name, {"x": x, "y": y, "dy": dy, "dx": dx}, layer, **params)


# --------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------

def dropout_case():
    torch.manual_seed(0)
    p = 0.5
    m = nn.Dropout(p)
    m.train()
    x = no_zero_randn(2, 3, 4, 5)
    xr = x.clone().requires_grad_(True)
    y = m(xr)
    mask = (y.detach() / x)  # 0 or 1/(1-p) == 2.0
    # snap to the exact scale values (division is exact here, but be safe)
    mask = torch.where(mask.abs() < 0.5, torch.zeros_like(mask),
                       torch.full_like(mask, 1.0 / (1.0 - p)))
    dy = torch.randn(y.shape)
    y.backward(dy)
    assert torch.equal(y.detach(), x * mask), "dropout mask replay mismatch"
    write_case("dropout", {"x": x, "mask": mask, "y": y, "dy": dy,
                           "dx": xr.grad}, "Dropout", p=p, training=True)


# --------------------------------------------------------------------------
# ReflectionPad2d
# --------------------------------------------------------------------------

def reflpad_case(name, pad, x_shape):
    torch.manual_seed(0)
    m = nn.ReflectionPad2d(pad)
    x = torch.randn(*x_shape)
    y, dy, dx = forward_backward(m, x)
    write_case(name, {"x": x, "y": y, "dy": dy, "dx": dx}, "ReflectionPad2d",
               pad=pad)


# --------------------------------------------------------------------------
# Concat
# --------------------------------------------------------------------------

def concat_case():
    torch.manual_seed(0)
    a = torch.randn(2, 3, 4, 5).requires_grad_(True)
    b = torch.randn(2, 2, 4, 5).requires_grad_(True)
    y = torch.cat([a, b], dim=1)
    dy = torch.randn(y.shape)
    y.backward(dy)
    write_case("concat", {"a": a, "b": b, "y": y, "dy": dy,
                          "da": a.grad, "db": b.grad}, "Concat", dim=1)


# --------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------

def loss_case(name, loss_module, layer, inp, target):
    inp = inp.clone().requires_grad_(True)
    loss = loss_module(inp, target)
    loss.backward()
    write_case(name, {"input": inp, "target": target,
                      "loss": loss.reshape(()), "dinput": inp.grad},
               layer, reduction="mean")


def losses():
    # BCEWithLogits
    shape = (2, 1, 5, 6)
    torch.manual_seed(0)
    inp = torch.randn(*shape) * 3
    loss_case("bce_logits_ones", nn.BCEWithLogitsLoss(), "BCEWithLogitsLoss",
              inp, torch.ones(*shape))
    torch.manual_seed(0)
    inp = torch.randn(*shape) * 3
    loss_case("bce_logits_zeros", nn.BCEWithLogitsLoss(), "BCEWithLogitsLoss",
              inp, torch.zeros(*shape))
    torch.manual_seed(0)
    inp = torch.randn(*shape) * 3
    loss_case("bce_logits_soft", nn.BCEWithLogitsLoss(), "BCEWithLogitsLoss",
              inp, torch.rand(*shape))

    # MSE
    torch.manual_seed(0)
    inp = torch.randn(2, 3, 4, 5)
    loss_case("mse", nn.MSELoss(), "MSELoss", inp, torch.randn(2, 3, 4, 5))
    torch.manual_seed(0)
    inp = torch.randn(1, 1, 6, 6)
    loss_case("mse_ones", nn.MSELoss(), "MSELoss", inp, torch.ones(1, 1, 6, 6))

    # L1 with three exact ties (input == target) -> gradient sign(0) = 0
    torch.manual_seed(0)
    inp = torch.randn(2, 3, 4, 5)
    target = torch.randn(2, 3, 4, 5)
    flat_i = inp.view(-1)
    flat_t = target.view(-1)
    for idx in (0, 17, 93):
        flat_i[idx] = flat_t[idx]
    assert int((inp == target).sum()) == 3
    loss_case("l1", nn.L1Loss(), "L1Loss", inp, target)


# --------------------------------------------------------------------------
# Adam
# --------------------------------------------------------------------------

def adam_case(name, n, lr, betas, eps, steps=3):
    torch.manual_seed(0)
    param0 = torch.randn(n)
    p = nn.Parameter(param0.clone())
    opt = torch.optim.Adam([p], lr=lr, betas=betas, eps=eps)
    t = {"param0": param0}
    for i in range(1, steps + 1):
        g = torch.randn(n)
        p.grad = g.clone()
        opt.step()
        t["grad%d" % i] = g
        t["param%d" % i] = p.detach().clone()
    st = opt.state[p]
    t["exp_avg%d" % steps] = st["exp_avg"]
    t["exp_avg_sq%d" % steps] = st["exp_avg_sq"]
    write_case(name, t, "Adam", lr=lr, beta1=betas[0], beta2=betas[1],
               eps=eps, steps=steps)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main():
    conv_case("conv_k4s2p1_bias", (2, 3, 10, 7), 5, 4, 2, 1, True)
    conv_case("conv_k4s1p1_nobias", (1, 6, 9, 8), 13, 4, 1, 1, False)
    conv_case("conv_k3s1p1_bias", (3, 5, 6, 11), 7, 3, 1, 1, True)
    conv_case("conv_k1s1p0_bias", (2, 9, 5, 3), 4, 1, 1, 0, True)
    conv_case("conv_k7s1p0_bias", (1, 3, 12, 13), 6, 7, 1, 0, True)
    conv_case("conv_k3s2p1_nobias", (2, 4, 9, 10), 8, 3, 2, 1, False)
    conv_case("conv_k4s2p1_tiny", (1, 4, 2, 2), 3, 4, 2, 1, True)
    # Few output channels (PatchGAN logits): Conv2d unfolds on the output side.
    conv_case("conv_k4s1p1_out1", (2, 16, 7, 6), 1, 4, 1, 1, True)
    conv_case("conv_k4s2p1_out2", (1, 64, 8, 8), 2, 4, 2, 1, False)
    # Many channels, stride 1, 3×3 / 4×4: Conv2d picks Winograd (tiles overhang the output).
    conv_case("conv_k4s1p1_wide", (2, 40, 13, 11), 36, 4, 1, 1, True)
    conv_case("conv_k3s1p1_wide", (2, 33, 10, 9), 40, 3, 1, 1, False)
    conv_case("conv_k3s1p0_wide", (1, 32, 12, 13), 32, 3, 1, 0, True)
    conv_case("conv_k4s2p1_wide", (2, 12, 18, 14), 40, 4, 2, 1, False)

    convt_case("convt_k4s2p1_bias", (2, 6, 5, 4), 3, 4, 2, 1, 0, True)
    convt_case("convt_k4s2p1_nobias", (1, 10, 3, 6), 7, 4, 2, 1, 0, False)
    convt_case("convt_k3s2p1op1_bias", (2, 5, 4, 5), 4, 3, 2, 1, 1, True)
    convt_case("convt_k4s2p1_1x1", (1, 8, 1, 1), 4, 4, 2, 1, 0, True)
    convt_case("convt_k4s2p1_wide", (2, 36, 7, 9), 20, 4, 2, 1, 0, True)

    bn_case("bn_train", (3, 5, 4, 3), True)
    bn_case("bn_train_small", (1, 3, 2, 2), True)
    bn_case("bn_eval", (2, 4, 3, 5), False)

    in_case("in_train", (2, 3, 5, 4))
    in_case("in_single", (1, 6, 3, 7))

    act_case("leakyrelu", nn.LeakyReLU(0.2), "LeakyReLU", negative_slope=0.2)
    act_case("relu", nn.ReLU(), "ReLU")
    act_case("tanh", nn.Tanh(), "Tanh")
    act_case("sigmoid", nn.Sigmoid(), "Sigmoid")

    dropout_case()

    reflpad_case("reflpad3", 3, (2, 2, 5, 6))
    reflpad_case("reflpad1", 1, (1, 3, 4, 4))

    concat_case()

    losses()

    adam_case("adam", 37, 0.01, (0.5, 0.999), 1e-8)
    adam_case("adam_pix2pix", 53, 2e-4, (0.5, 0.999), 1e-8)

    total = 0
    print("torch %s -> %s" % (torch.__version__, OUT_DIR))
    for name, path, meta, shapes in WRITTEN:
        size = os.path.getsize(path)
        total += size
        shape_str = ", ".join("%s%s" % (k, list(s)) for k, s in shapes.items())
        print("%-22s %6d B  %s  | %s" % (name + ".safetensors", size,
                                          meta["layer"], shape_str))
    print("%d files, %d bytes total" % (len(WRITTEN), total))


if __name__ == "__main__":
    sys.exit(main())
