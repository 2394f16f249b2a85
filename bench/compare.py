#!/usr/bin/python3
"""Measure gradcam side by side with PyTorch and ONNX Runtime, in one run, and
print the tables of BENCHMARKS.md ("Speed" section) in Markdown.

    /usr/bin/python3 bench/compare.py --models $GRADCAM_MODELS_DIR --ort-dir /tmp/ortnode

What is compared, on one 224x224 image, with 2 threads everywhere:

* forward pass: `gradcam bench` vs ONNX Runtime (bench/ort_forward.js, npm
  onnxruntime-node 1.30.0) for ResNet50, MobileNetV2 and VGG16;
* Grad-CAM end to end (input tensor in, 224x224 map out): `gradcam bench
  --method gradcam` vs a hook-based Grad-CAM in PyTorch (bench/torch_cam.py);
* Score-CAM on ResNet50 vs 2048 PyTorch forwards in batches of 16 (Score-CAM's
  workload without its bookkeeping), one run of each, or the best of
  --scorecam-rounds alternating runs;
* Ablation-CAM on ResNet50's last block (gradcam only; pytorch-grad-cam takes
  149.6 s, ../shared/notes/measured-facts.md);
* FullGrad vs a FullGrad-equivalent PyTorch pass (gradients at the input and at
  every biased layer, the per-layer maps summed) and vs pytorch-grad-cam's 4.3 s;
* peak resident memory and load time.

Every tool runs in its own process, and the tools alternate for --rounds
rounds of --runs runs (--model-runs for named models: MobileNetV2 200);
the forward comparison with ONNX Runtime continues, the two back to back,
up to --forward-rounds rounds (9); each number is the best of the rounds'
medians (the machine is
shared; the load average is printed before and after). Prerequisites: Go (the
script builds ./cmd/gradcam), Debian python3-torch and python3-torchvision,
Node.js with onnxruntime-node installed outside the repository:

    mkdir -p /tmp/ortnode && cd /tmp/ortnode && npm install --ignore-scripts onnxruntime-node@1.30.0

ResNet50 and VGG16 come from ../shared/tools/export_models.py (--models, or
$GRADCAM_MODELS_DIR: NAME.onnx and the NAME.pt state dicts), MobileNetV2 from
../shared/models. --raw FILE keeps every measurement as JSON.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


class Bench:
    def __init__(self, args):
        self.args = args
        self.raw = []

    def gradcam(self, model, method=None, runs=None, warmup=None):
        a = self.args
        cmd = [a.gradcam, "bench", "--json", "-m", model, "--threads", str(a.threads),
               "--runs", str(runs or a.runs), "--warmup", str(a.warmup if warmup is None else warmup)]
        if method:
            cmd += ["--method", method]
        env = dict(os.environ, GOMAXPROCS=str(a.threads))
        r = run_json(cmd, env)
        self.raw.append({"tool": "gradcam", "cmd": cmd, "result": r})
        return r

    def torch(self, name, what, weights=None, runs=None):
        a = self.args
        cmd = [PY, os.path.join(HERE, "torch_cam.py"), "--model", name, "--what", what,
               "--threads", str(a.threads), "--runs", str(runs or a.runs), "--warmup", str(a.warmup)]
        if weights and os.path.exists(weights):
            cmd += ["--weights", weights]
        r = run_json(cmd)
        self.raw.append({"tool": "torch", "cmd": cmd, "result": r})
        return r

    def ort(self, model, runs=None):
        a = self.args
        cmd = ["node", os.path.join(HERE, "ort_forward.js"), model, str(runs or a.runs), str(a.warmup), str(a.threads)]
        env = dict(os.environ)
        if a.ort_dir:
            env["ORT_NODE_DIR"] = a.ort_dir
        r = run_json(cmd, env)
        self.raw.append({"tool": "onnxruntime", "cmd": cmd, "result": r})
        return r


def best(rounds, *keys):
    """The smallest value at keys over the rounds (None when absent)."""
    vals = []
    for r in rounds:
        v = r
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            vals.append(v)
    return min(vals) if vals else None


def fmt(v, unit=" ms"):
    if v is None:
        return "n/a"
    if v >= 1000 and unit == " ms":
        return f"{v / 1000:.2f} s"
    return f"{v:.1f}{unit}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=os.environ.get("GRADCAM_MODELS_DIR", "/tmp/models"),
                    help="directory of resnet50.onnx, vgg16.onnx (+ .pt) from export_models.py")
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--ort-dir", default=os.environ.get("ORT_NODE_DIR", "/tmp/ortnode"),
                    help="directory holding node_modules/onnxruntime-node")
    ap.add_argument("--gradcam", help="gradcam binary (default: go build ./cmd/gradcam)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--model-runs", default="mobilenet_v2=200",
                    help="runs per measurement for named models instead of --runs, as NAME=N,...: "
                         "MobileNetV2's forward takes about 5 ms, so 20 runs span 0.1 s, shorter than the "
                         "machine's swings")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--forward-rounds", type=int, default=9,
                    help="rounds of the forward comparison with ONNX Runtime: past --rounds, the forward "
                         "alone of gradcam and of ONNX Runtime, back to back (a few seconds a model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models-list", default="resnet50,mobilenet_v2,vgg16")
    ap.add_argument("--skip", default="", help="comma-separated: scorecam,ablationcam,fullgrad")
    ap.add_argument("--scorecam-rounds", type=int, default=1,
                    help="Score-CAM runs of each tool, alternating (about 5 minutes a round)")
    ap.add_argument("--raw", help="write every measurement to this JSON file")
    args = ap.parse_args()
    if not args.gradcam:
        tmp = tempfile.mkdtemp(prefix="gradcam-bench-")
        args.gradcam = os.path.join(tmp, "gradcam")
        subprocess.run(["go", "build", "-o", args.gradcam, "./cmd/gradcam"], cwd=ROOT, check=True)
    skip = set(filter(None, args.skip.split(",")))
    b = Bench(args)
    files = {
        "resnet50": (os.path.join(args.models, "resnet50.onnx"), os.path.join(args.models, "resnet50.pt")),
        "vgg16": (os.path.join(args.models, "vgg16.onnx"), os.path.join(args.models, "vgg16.pt")),
        "mobilenet_v2": (os.path.join(args.shared, "models", "mobilenet_v2_1.0_224.onnx"), None),
    }
    names = args.models_list.split(",")
    runs = {n: args.runs for n in names}
    for kv in filter(None, args.model_runs.split(",")):
        n, _, v = kv.partition("=")
        if not v.isdigit() or int(v) < 1:
            ap.error(f"--model-runs: {kv!r} is not NAME=N with N a positive number of runs")
        runs[n] = int(v)
    load_before = load_average()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"# {started:%Y-%m-%d %H:%M} UTC, {cpu_model()}, {os.cpu_count()} CPUs, "
          f"load average {load_before}", file=sys.stderr)

    per = {n: {"gradcam": [], "torch": [], "ort": []} for n in names}
    for rnd in range(args.rounds):
        for n in names:
            onnx_path, pt = files[n]
            print(f"round {rnd + 1}: {n}", file=sys.stderr)
            per[n]["gradcam"].append(b.gradcam(onnx_path, "gradcam", runs=runs[n]))
            per[n]["torch"].append(b.torch(n, "forward,gradcam", pt, runs=runs[n]))
            per[n]["ort"].append(b.ort(onnx_path, runs=runs[n]))
    # The forward comparison gets more rounds, each measuring the two
    # tools back to back: the machine's swings last seconds to minutes,
    # and the best of few rounds may catch one tool in a quiet spell and
    # not the other.
    fwd = {n: {"gradcam": [], "ort": []} for n in names}
    for rnd in range(args.rounds, args.forward_rounds):
        for n in names:
            onnx_path, _ = files[n]
            print(f"forward round {rnd + 1}: {n}", file=sys.stderr)
            fwd[n]["gradcam"].append(b.gradcam(onnx_path, runs=runs[n]))
            fwd[n]["ort"].append(b.ort(onnx_path, runs=runs[n]))

    extra = {}
    r50, r50pt = files["resnet50"]
    if "resnet50" in names:
        if "fullgrad" not in skip:
            print("fullgrad", file=sys.stderr)
            extra["fullgrad"] = ([b.gradcam(r50, "fullgrad", runs=5) for _ in range(args.rounds)],
                                 [b.torch("resnet50", "fullgrad", r50pt, runs=5) for _ in range(args.rounds)])
        if "ablationcam" not in skip:
            print("ablationcam", file=sys.stderr)
            extra["ablationcam"] = [b.gradcam(r50, "ablationcam", runs=3, warmup=1) for _ in range(args.rounds)]
        if "scorecam" not in skip:
            print("scorecam", file=sys.stderr)
            g, t = [], []
            for _ in range(args.scorecam_rounds):
                g.append(b.gradcam(r50, "scorecam", runs=1, warmup=0))
                t.append(b.torch("resnet50", "scorecam-forwards", r50pt, runs=1))
            extra["scorecam"] = (g, t)
    load_after = load_average()

    out = []
    p = out.append
    p(f"Run of {started:%Y-%m-%d %H:%M} UTC on {cpu_model()} ({os.cpu_count()} CPUs), "
      f"{args.threads} thread{'s' if args.threads > 1 else ''} for every tool, load average {load_before} before and {load_after} after. "
      f"Best of {args.rounds} rounds of the median of {args.runs} runs ({args.warmup} warm-up runs)"
      + "".join(f"; {n}: {runs[n]} runs" for n in names if runs[n] != args.runs)
      + (f"; the forwards best of {max(args.rounds, args.forward_rounds)} rounds" if args.forward_rounds > args.rounds else "")
      + ".")
    p("")
    p("| model | gradcam forward | ONNX Runtime forward | ratio (target ≤ 1.1x) "
      "| gradcam Grad-CAM | PyTorch hook Grad-CAM | ratio (target ≤ 0.2x) | PyTorch forward | gradcam load | gradcam peak RSS |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        g, t, o = per[n]["gradcam"], per[n]["torch"], per[n]["ort"]
        gf = best(g + fwd[n]["gradcam"], "forward", "median_ms")
        of = best(o + fwd[n]["ort"], "forward", "median_ms")
        ge, te = best(g, "explain", "median_ms"), best(t, "gradcam", "median_ms")
        p(f"| {n} | {fmt(gf)} | {fmt(of)} | {ratio(gf, of)} | {fmt(ge)} | {fmt(te)} | {ratio(ge, te)} "
          f"| {fmt(best(t, 'forward', 'median_ms'))} | {fmt(best(g, 'load_ms'))} | {fmt(best(g, 'peak_rss_mib'), ' MiB')} |")
    p("")
    if extra:
        p("| ResNet50 | gradcam | reference | ratio | target |")
        p("|---|---|---|---|---|")
        if "fullgrad" in extra:
            g, t = extra["fullgrad"]
            gv, tv = best(g, "explain", "median_ms"), best(t, "fullgrad", "median_ms")
            p(f"| FullGrad | {fmt(gv)} | PyTorch FullGrad-equivalent {fmt(tv)} | {ratio(gv, tv)} "
              f"| ≤ 0.2x of 4.3 s (pytorch-grad-cam): {ratio(gv, 4300)} |")
        if "ablationcam" in extra:
            gv = best(extra["ablationcam"], "explain", "median_ms")
            p(f"| Ablation-CAM (last block, 2048 channels) | {fmt(gv)} | pytorch-grad-cam 149.6 s (not re-measured) "
              f"| {ratio(gv, 149600)} | < 1 s |")
        if "scorecam" in extra:
            g, t = extra["scorecam"]
            gv, tv = best(g, "explain", "median_ms"), best(t, "scorecam_forwards", "total_ms")
            rounds = "" if len(g) == 1 else f" (best of {len(g)} alternating rounds)"
            p(f"| Score-CAM (2048 masked inputs, batches of 16){rounds} | {fmt(gv)} | 2048 PyTorch forwards in batches of 16: "
              f"{fmt(tv)} | {ratio(gv, tv)} | ≤ 0.4x |")
        p("")
    p("Command: `/usr/bin/python3 bench/compare.py " + " ".join(sys.argv[1:]) + "`")
    print("\n".join(out))
    if args.raw:
        with open(args.raw, "w") as f:
            json.dump({"started": started.isoformat(), "load_before": load_before, "load_after": load_after,
                       "runs": b.raw}, f, indent=1)


if __name__ == "__main__":
    main()
