#!/usr/bin/python3
"""Compare gemm.Sgemm with OpenBLAS (through Debian's numpy) on the shapes
of gemm's BenchmarkSgemm, with 1 and 2 threads, and print a table.

Run from the repository root (some machines here set OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE for old builds; unset both in this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/gemm_openblas.py

Debian's OpenBLAS 0.3.21 does not know the Sapphire Rapids Xeon (family 6,
model 207) and falls back to its Prescott (SSE3) kernel, at a quarter of its
AVX-512 speed. The script therefore sets OPENBLAS_CORETYPE to --coretype
(default: SkylakeX, OpenBLAS's AVX-512 kernel, where the CPU has AVX-512;
"auto", OpenBLAS's own detection, elsewhere, e.g. Zen on an AMD EPYC) before
numpy loads OpenBLAS, and prints the core in use. numpy must load OpenBLAS:
with --no-install-recommends Debian's python3-numpy gets the reference BLAS,
so install libopenblas0-pthread too.

The machine is shared: both sides report the best of 3 rounds of --reps
calls each (for gemm, 3 runs of its Go benchmarks), and the sides take
turns --rounds times (default 3), keeping their best, so that a busy
minute does not fall on one side only.

Options: --no-go (OpenBLAS only), --reps N (timed calls per shape),
--rounds N (alternations of the two sides),
--coretype NAME, --kernel avx512|avx2|go (GRADCAM_GEMM_KERNEL for the Go
benchmarks).
"""
import argparse
import ctypes
import os
import re
import subprocess
import sys
import time

np = None  # numpy, imported once OPENBLAS_CORETYPE is set

SHAPES = [(64, 12544, 147), (256, 3136, 576), (512, 49, 4608), (256, 3136, 2304)]
THREADS = [1, 2]


def openblas():
    """Returns the OpenBLAS library numpy loaded, through ctypes."""
    np.dot(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in path and ".so" in path:
                lib = ctypes.CDLL(path)
                if hasattr(lib, "openblas_get_corename"):
                    lib.openblas_get_corename.restype = ctypes.c_char_p
                    lib.openblas_get_config.restype = ctypes.c_char_p
                    return path, lib
    sys.exit("numpy does not use OpenBLAS here")


def bench_openblas(lib, reps):
    out = {}
    rng = np.random.default_rng(1)
    for t in THREADS:
        lib.openblas_set_num_threads(t)
        for m, n, k in SHAPES:
            a = rng.random((m, k), dtype=np.float32) - 0.5
            b = rng.random((k, n), dtype=np.float32) - 0.5
            c = np.empty((m, n), np.float32)
            for _ in range(3):
                np.matmul(a, b, out=c)
            # Like the Go side: the best of 3 rounds of reps calls each.
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(reps):
                    np.matmul(a, b, out=c)
                best = min(best, (time.perf_counter() - t0) / reps)
            out[(m, n, k, t)] = 2.0 * m * n * k / best / 1e9
    return out


def bench_go(reps, kernel):
    env = dict(os.environ)
    if kernel:
        env["GRADCAM_GEMM_KERNEL"] = kernel
    cmd = ["go", "test", "-run", "^$", "-bench", "^BenchmarkSgemm(PackedA)?$", "-benchtime", f"{reps}x", "-count", "3", "./gemm/"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    out = {}
    pat = re.compile(r"^Benchmark(Sgemm|SgemmPackedA)/(\d+)x(\d+)x(\d+)/(\d+)\S*\s.*?([\d.]+) GFLOPS")
    for line in res.stdout.splitlines():
        mt = pat.match(line)
        if mt:
            key = (mt.group(1),) + tuple(int(x) for x in mt.group(2, 3, 4, 5))
            out.setdefault(key, []).append(float(mt.group(6)))
    # The best of the -count runs (each the mean of reps calls).
    return {key: max(v) for key, v in out.items()}


def default_coretype():
    """SkylakeX (OpenBLAS's AVX-512 kernel) where the CPU has AVX-512, else
    "auto": forcing an AVX-512 kernel elsewhere would fault."""
    try:
        with open("/proc/cpuinfo") as f:
            if " avx512f" in f.read():
                return "SkylakeX"
    except OSError:
        pass
    return "auto"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-go", action="store_true", help="measure OpenBLAS only")
    ap.add_argument("--reps", type=int, default=20, help="timed calls per shape")
    ap.add_argument("--rounds", type=int, default=3, help="alternations of OpenBLAS and gemm")
    ap.add_argument("--coretype", default=default_coretype(), help='OPENBLAS_CORETYPE, or "auto"')
    ap.add_argument("--kernel", default="", help="gemm kernel family for the Go side")
    args = ap.parse_args()
    if args.coretype != "auto":
        os.environ["OPENBLAS_CORETYPE"] = args.coretype
    global np
    import numpy
    np = numpy
    path, lib = openblas()
    print(f"OpenBLAS {lib.openblas_get_config().decode()} core {lib.openblas_get_corename().decode()} ({path})")
    ob, go = {}, {}
    for _ in range(args.rounds):
        for key, v in bench_openblas(lib, args.reps).items():
            ob[key] = max(ob.get(key, 0.0), v)
        if not args.no_go:
            for key, v in bench_go(args.reps, args.kernel).items():
                go[key] = max(go.get(key, 0.0), v)
    print()
    print("| M x N x K | threads | OpenBLAS GFLOPS | gemm GFLOPS | % | gemm pre-packed A GFLOPS | % |")
    print("|---|---|---|---|---|---|---|")
    for t in THREADS:
        for m, n, k in SHAPES:
            o = ob[(m, n, k, t)]
            row = f"| {m}x{n}x{k} | {t} | {o:.0f} |"
            for kind in ("Sgemm", "SgemmPackedA"):
                g = go.get((kind, m, n, k, t))
                row += " - | - |" if g is None else f" {g:.0f} | {100 * g / o:.0f}% |"
            print(row)


if __name__ == "__main__":
    main()
