#!/usr/bin/env python3
"""The anchor for the GPU figures: the same optimizer step as `stylize bench` (Gatys et al., VGG-19
with average pooling through conv5_1, content loss at conv4_2, Gram style losses at conv1_1..conv5_1
with weights 0.5, 1, 1.5, 3, 4, total = 0.01 content + style, gradient with respect to the image,
one Adam step with learning rate 2), timed in the machine's own PyTorch. Random weights of VGG-19's
shapes and random 4:3 images, as `stylize bench --synthetic` uses: the time does not depend on them.

Modes: fp32 (TF32 off: the same arithmetic as the other backends), tf32 (PyTorch's default for
convolutions on NVIDIA), bf16 (autocast). Prints one line per size and mode, and writes a JSON.

    python3 scripts/device/torch_step.py --sizes 512,1024,2048 --json OUT.json [--device cuda]
"""
import argparse
import json
import statistics
import sys
import time

# (out channels, pool after) per conv layer, conv1_1 .. conv5_1; names in paper order.
VGG19_THROUGH_CONV5_1 = [
    ("conv1_1", 64, False), ("conv1_2", 64, True),
    ("conv2_1", 128, False), ("conv2_2", 128, True),
    ("conv3_1", 256, False), ("conv3_2", 256, False), ("conv3_3", 256, False), ("conv3_4", 256, True),
    ("conv4_1", 512, False), ("conv4_2", 512, False), ("conv4_3", 512, False), ("conv4_4", 512, True),
    ("conv5_1", 512, False),
]
STYLE_LAYERS = {"conv1_1": 0.5, "conv2_1": 1.0, "conv3_1": 1.5, "conv4_1": 3.0, "conv5_1": 4.0}
CONTENT_LAYER = "conv4_2"
CONTENT_WEIGHT, STYLE_WEIGHT, LEARNING_RATE = 0.01, 1.0, 2.0
# Caffe/Keras VGG preprocessing: BGR, mean subtracted (what the engine does).
BGR_MEAN = (103.939, 116.779, 123.68)


def report_unavailable(args, reason):
    print(f"torch: unavailable ({reason})", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"available": False, "reason": reason}, f, indent=2)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="512,1024,2048", help="long sides in pixels (4:3 images)")
    p.add_argument("--modes", default="fp32,tf32,bf16")
    p.add_argument("--iterations", type=int, default=5, help="timed steps per size and mode")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="cuda")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        return report_unavailable(args, f"no PyTorch: {e}")
    if args.device == "cuda" and not torch.cuda.is_available():
        return report_unavailable(args, f"PyTorch {torch.__version__} sees no CUDA device")
    dev = torch.device(args.device)
    gen = torch.Generator().manual_seed(args.seed)

    # He-scaled uniform weights, like weights/synthetic.ts: activations keep their size, no denormals.
    layers, cin = [], 3
    for name, cout, pool in VGG19_THROUGH_CONV5_1:
        a = (6.0 / (9 * cin)) ** 0.5
        w = ((torch.rand(cout, cin, 3, 3, generator=gen) * 2 - 1) * a).to(dev)
        b = ((torch.rand(cout, generator=gen) * 2 - 1) * 0.01).to(dev)
        layers.append((name, w, b, pool))
        cin = cout
    mean = torch.tensor(BGR_MEAN, device=dev).view(1, 3, 1, 1)

    def features(rgb_hwc):
        x = rgb_hwc.permute(2, 0, 1).unsqueeze(0).flip(1) - mean
        out = {}
        for name, w, b, pool in layers:
            x = F.relu(F.conv2d(x, w, b, padding=1))
            if name in STYLE_LAYERS or name == CONTENT_LAYER:
                out[name] = x
            if pool:
                x = F.avg_pool2d(x, 2)
        return out

    def gram(f):
        c, m = f.shape[1], f.shape[2] * f.shape[3]
        x = f.reshape(c, m)
        return (x @ x.t()).float(), c, m

    def step_fn(x, opt, targets, autocast_dtype):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            f = features(x)
            fc = f[CONTENT_LAYER].float()
            content = ((fc - targets["content"]) ** 2).sum() / (4 * targets["content"].numel())
            style = 0.0
            for name, lw in STYLE_LAYERS.items():
                g, c, m = gram(f[name])
                style = style + lw * ((g - targets[name]) ** 2).sum() / (4.0 * c * c * m * m)
            total = CONTENT_WEIGHT * content + STYLE_WEIGHT * style
        total.backward()
        opt.step()
        return total

    results = []
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    for size in [int(s) for s in args.sizes.split(",")]:
        width, height = size, round(size * 3 / 4)
        content_img = (torch.rand(height, width, 3, generator=gen) * 255).to(dev)
        style_img = (torch.rand(height, width, 3, generator=gen) * 255).to(dev)
        with torch.no_grad():
            fs, fcn = features(style_img), features(content_img)
            targets = {n: gram(fs[n])[0] for n in STYLE_LAYERS}
            targets["content"] = fcn[CONTENT_LAYER].float()
        for mode in args.modes.split(","):
            if dev.type == "cuda":
                torch.backends.cudnn.allow_tf32 = mode == "tf32"
                torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
                torch.cuda.reset_peak_memory_stats(dev)
            autocast_dtype = torch.bfloat16 if mode == "bf16" else None
            noise = torch.rand(height, width, 3, generator=gen).to(dev) * 40 - 20
            x = (0.6 * (noise + torch.tensor(BGR_MEAN[::-1], device=dev)) + 0.4 * content_img).requires_grad_(True)
            opt = torch.optim.Adam([x], lr=LEARNING_RATE)
            samples, loss = [], float("nan")
            try:
                for i in range(args.warmup + args.iterations):
                    if dev.type == "cuda":
                        torch.cuda.synchronize(dev)
                    t0 = time.perf_counter()
                    loss = float(step_fn(x, opt, targets, autocast_dtype).detach())  # the float() waits for the GPU
                    if i >= args.warmup:
                        samples.append((time.perf_counter() - t0) * 1000)
            except RuntimeError as e:  # out of memory, an unsupported dtype on this device
                print(f"torch {mode} {size}px failed: {str(e).splitlines()[0]}", file=sys.stderr)
                results.append({"mode": mode, "size": size, "width": width, "height": height, "error": str(e).splitlines()[0]})
                continue
            peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
            row = {
                "mode": mode, "size": size, "width": width, "height": height,
                "msPerIteration": round(statistics.median(samples), 2), "samplesMs": [round(s, 2) for s in samples],
                "peakMemMB": round(peak) if peak is not None else None, "loss": loss,
            }
            results.append(row)
            print(f"torch {mode} {size}px ({width}x{height}): {row['msPerIteration']} ms/iteration, loss {loss:.4g}", file=sys.stderr)
            del x, opt
        del content_img, style_img, targets, fs, fcn
        if dev.type == "cuda":
            torch.cuda.empty_cache()

    out = {"available": True, "torch": torch.__version__, "cuda": getattr(torch.version, "cuda", None), "device": name, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    else:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
