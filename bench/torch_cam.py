#!/usr/bin/python3
"""PyTorch side of bench/compare.py: times a torchvision model's forward pass,
a hook-based Grad-CAM written in a few lines (the usual recipe: a forward hook
on the target layer keeps its output and a tensor hook its gradient), a
FullGrad-equivalent pass (input gradient plus the gradient at every Conv2d and
BatchNorm2d output, each layer's |bias * gradient| normalised per channel,
summed, resized and summed over layers) and Score-CAM's workload (2048 masked
inputs forward in batches of 16), on CPU with --threads threads. Prints one
JSON object.

    /usr/bin/python3 bench/torch_cam.py --model resnet50 --weights DIR/resnet50.pt \\
        --what forward,gradcam --runs 10

Debian's python3-torch (1.13, oneDNN) and python3-torchvision are used. The
weights do not change the timings; --weights loads a state_dict when given.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision

TARGETS = {  # the layer Grad-CAM explains, as pytorch-grad-cam's examples use
    "resnet50": lambda m: m.layer4[-1],
    "resnet18": lambda m: m.layer4[-1],
    "vgg16": lambda m: m.features[29],  # the last ReLU, before the last max pool
    "mobilenet_v2": lambda m: m.features[-1],
    "densenet121": lambda m: m.features[-1],
}


def stats(times):
    ms = sorted(t * 1e3 for t in times)
    return {"runs": len(ms), "median_ms": round(statistics.median(ms), 3),
            "min_ms": round(ms[0], 3), "max_ms": round(ms[-1], 3)}


def timed(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return stats(out)


def minmax(x, dims):
    lo = x.amin(dim=dims, keepdim=True)
    hi = x.amax(dim=dims, keepdim=True)
    return (x - lo) / (hi - lo + 1e-7)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=sorted(TARGETS))
    ap.add_argument("--weights", help="state_dict saved by torch.save")
    ap.add_argument("--what", default="forward,gradcam")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.model)()
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    model.eval()
    x = torch.randn(1, 3, args.size, args.size)
    what = args.what.split(",")
    res = {"model": args.model, "threads": torch.get_num_threads(), "torch": torch.__version__}

    if "forward" in what:
        def forward():
            with torch.no_grad():
                model(x)
        res["forward"] = timed(forward, args.runs, args.warmup)

    if "gradcam" in what:
        layer = TARGETS[args.model](model)
        keep = {}

        def hook(module, inputs, output):
            keep["a"] = output
            output.register_hook(lambda g: keep.__setitem__("g", g))

        h = layer.register_forward_hook(hook)

        def gradcam():
            model.zero_grad(set_to_none=True)
            out = model(x)
            out[0, out[0].argmax()].backward()
            a, g = keep["a"], keep["g"]
            w = g.mean(dim=(2, 3), keepdim=True)
            cam = F.relu((w * a).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)
            return minmax(cam, (2, 3)).detach()

        res["gradcam"] = timed(gradcam, args.runs, args.warmup)
        h.remove()

    if "fullgrad" in what:
        layers = [m for m in model.modules()
                  if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d)) and m.bias is not None]
        outs = []

        def hook(module, inputs, output):
            outs.append((module, output))
            output.retain_grad()

        hs = [m.register_forward_hook(hook) for m in layers]

        def fullgrad():
            outs.clear()
            model.zero_grad(set_to_none=True)
            xi = x.clone().requires_grad_(True)
            out = model(xi)
            out[0, out[0].argmax()].backward()
            with torch.no_grad():
                total = minmax((xi * xi.grad).abs(), (2, 3)).sum(dim=1, keepdim=True)
                for m, o in outs:
                    b = m.bias
                    if isinstance(m, torch.nn.BatchNorm2d):
                        b = m.bias - m.running_mean * m.weight / torch.sqrt(m.running_var + m.eps)
                    t = minmax((o.grad * b[None, :, None, None]).abs(), (2, 3)).sum(dim=1, keepdim=True)
                    total += F.interpolate(t, size=x.shape[2:], mode="bilinear", align_corners=False)
                return minmax(total, (2, 3))

        res["fullgrad"] = timed(fullgrad, args.runs, args.warmup)
        for h in hs:
            h.remove()

    if "scorecam-forwards" in what:
        xb = torch.randn(16, 3, args.size, args.size)
        with torch.no_grad():
            model(xb)  # warm up
            t = time.perf_counter()
            for _ in range(2048 // 16):
                model(xb)
            res["scorecam_forwards"] = {"images": 2048, "batch": 16,
                                        "total_ms": round((time.perf_counter() - t) * 1e3, 1)}

    res["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
