#!/usr/bin/env python3
"""Writes the Pillow-parity fixtures of DataTests into Fixtures/pillow/.

Run by hand (CI never runs it):
    /work/venv/bin/pip install pillow numpy
    /work/venv/bin/python Tests/DataTests/Fixtures/make_image_fixtures.py

For each small test image of an unusual kind it saves the file and, as raw bytes, what
PIL's Image.open(path).convert('RGB') gives (H*W*3, row-major, interleaved). For a small
RGB and gray source it saves PIL's BICUBIC resize to several sizes. manifest.json lists
everything. When ../shared/data/facades exists it also records FNV-1a hashes of PIL's
decode and PT-style resizes of two real images (the Swift test recomputes them).
"""
import io, json, os, struct, sys, zlib
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "pillow")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(1234)
manifest = {"pillow": Image.__version__, "decode": [], "resize": [], "gray": [], "facades": []}


def png_bytes(w, h, color_type, bit_depth, rows, extra=b""):
    """A PNG written by hand, for layouts PIL cannot save (low-bit gray, 16-bit LA)."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def smooth(h, w, c):
    """Gradients plus noise: JPEG-friendly but not trivial."""
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x + y) * 7) % 256], -1)
    noise = rng.integers(-40, 41, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)[..., :c]


def add_decode(name, data):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    im = Image.open(path)
    mode = im.mode
    rgb = np.asarray(im.convert("RGB"))
    with open(path + ".rgb", "wb") as f:
        f.write(rgb.tobytes())
    manifest["decode"].append({"file": name, "pil_mode": mode, "width": rgb.shape[1], "height": rgb.shape[0]})


def saved(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


W, H = 19, 13
rgb = smooth(H, W, 3)
gray = rgb[..., 0].copy()
alpha = rng.integers(0, 256, size=(H, W), dtype=np.uint8)

add_decode("rgb.png", saved(Image.fromarray(rgb), "PNG"))
add_decode("gray.png", saved(Image.fromarray(gray), "PNG"))
add_decode("gray_alpha.png", saved(Image.fromarray(np.stack([gray, alpha], -1), "LA"), "PNG"))
add_decode("rgba.png", saved(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG"))
pal = Image.fromarray(rgb).quantize(colors=40)
add_decode("palette.png", saved(pal, "PNG"))
add_decode("palette_trns.png", saved(pal, "PNG", transparency=3))
add_decode("palette_4bit.png", saved(Image.fromarray(rgb).quantize(colors=12), "PNG", bits=4))
for bits in (1, 2, 4):
    per = 8 // bits
    vals = rng.integers(0, 1 << bits, size=(H, W))
    rows = []
    for r in vals:
        padded = list(r) + [0] * ((-len(r)) % per)
        packed = bytearray()
        for i in range(0, len(padded), per):
            v = 0
            for p in padded[i:i + per]:
                v = (v << bits) | int(p)
            packed.append(v)
        rows.append(bytes(packed))
    add_decode(f"gray_{bits}bit.png", png_bytes(W, H, 0, bits, rows))
g16 = rng.integers(0, 65536, size=(H, W), dtype=np.uint16)
g16[0, :5] = [0, 100, 255, 256, 65535]
add_decode("gray16.png", saved(Image.fromarray(g16), "PNG"))
rgb16 = rng.integers(0, 65536, size=(H, W, 3), dtype=np.uint16)
add_decode("rgb16.png", png_bytes(W, H, 2, 16, [r.astype(">u2").tobytes() for r in rgb16]))
la16 = rng.integers(0, 65536, size=(H, W, 2), dtype=np.uint16)
add_decode("gray_alpha16.png", png_bytes(W, H, 4, 16, [r.astype(">u2").tobytes() for r in la16]))
rgba16 = rng.integers(0, 65536, size=(H, W, 4), dtype=np.uint16)
add_decode("rgba16.png", png_bytes(W, H, 6, 16, [r.astype(">u2").tobytes() for r in rgba16]))
# Gray with tRNS and an ancillary text chunk: both ignored by convert('RGB').
trns = struct.pack(">I", 2) + b"tRNS" + struct.pack(">H", 7)
trns += struct.pack(">I", zlib.crc32(b"tRNS" + struct.pack(">H", 7)) & 0xFFFFFFFF)
add_decode("gray_trns.png", png_bytes(W, H, 0, 8, [r.tobytes() for r in gray], extra=trns))

JW, JH = 24, 18
jrgb = smooth(JH, JW, 3)
add_decode("baseline.jpg", saved(Image.fromarray(jrgb), "JPEG", quality=90))
add_decode("baseline_444.jpg", saved(Image.fromarray(jrgb), "JPEG", quality=90, subsampling=0))
add_decode("progressive.jpg", saved(Image.fromarray(jrgb), "JPEG", quality=85, progressive=True))
add_decode("gray.jpg", saved(Image.fromarray(jrgb[..., 1].copy()), "JPEG", quality=90))
cmyk = Image.fromarray(rng.integers(0, 256, size=(JH, JW, 4), dtype=np.uint8), "CMYK")
add_decode("cmyk.jpg", saved(cmyk, "JPEG", quality=95))
odd = smooth(15, 21, 3)  # odd sizes exercise the 4:2:0 edge handling
add_decode("odd_size.jpg", saved(Image.fromarray(odd), "JPEG", quality=80))

# Resize sources: RGB and gray, up, down, one axis only, strong shrink.
src = Image.fromarray(smooth(29, 37, 3))
src.save(os.path.join(OUT, "resize_src.png"))
gsrc = Image.fromarray(smooth(29, 37, 1)[..., 0].copy())
gsrc.save(os.path.join(OUT, "resize_src_gray.png"))
for srcname, im in (("resize_src.png", src), ("resize_src_gray.png", gsrc)):
    for (w, h) in ((64, 48), (13, 11), (37, 15), (20, 29), (5, 3), (41, 31)):
        out = np.asarray(im.resize((w, h), Image.BICUBIC))
        name = f"{srcname[:-4]}_{w}x{h}.raw"
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(out.tobytes())
        manifest["resize"].append({"source": srcname, "width": w, "height": h, "expected": name})

# PIL's convert('L') of an RGB image (the formula with PIL's rounding).
lsrc = np.asarray(src.convert("L"))
with open(os.path.join(OUT, "resize_src.L.raw"), "wb") as f:
    f.write(lsrc.tobytes())
manifest["gray"].append({"source": "resize_src.png", "expected": "resize_src.L.raw"})


def fnv1a(b):
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


facades = os.path.normpath(os.path.join(HERE, "../../../../shared/data/facades"))
for rel in ("train/1.jpg", "test/7.jpg"):
    p = os.path.join(facades, rel)
    if not os.path.exists(p):
        print("facades missing; no real-image hashes", file=sys.stderr)
        break
    AB = Image.open(p).convert("RGB")
    w, h = AB.size
    A = AB.crop((0, 0, w // 2, h))
    entry = {"file": rel, "width": w, "height": h, "rgb_fnv1a": fnv1a(np.asarray(AB).tobytes())}
    entry["A_286_fnv1a"] = fnv1a(np.asarray(A.resize((286, 286), Image.BICUBIC)).tobytes())
    entry["A_100x77_fnv1a"] = fnv1a(np.asarray(A.resize((100, 77), Image.BICUBIC)).tobytes())
    entry["A_L_fnv1a"] = fnv1a(np.asarray(A.convert("L")).tobytes())
    manifest["facades"].append(entry)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, Pillow {Image.__version__}")
