"""PyTorch's int4 tinygemm (torch._weight_int4pack_mm) on the shapes of
bench_w4a16.c, bf16, group 128, timed like the C harness: CUDA events around
single calls after a warm-up, weights rotated over >= 2x L2, median.
Writes JSON rows {model, name, m, n, k, median_us}."""
import argparse
import json
import math
import statistics

import torch

SHAPES = [("8b", "qkv", 4096, 6144), ("8b", "o", 4096, 4096), ("8b", "gate_up", 4096, 28672),
          ("8b", "down", 14336, 4096), ("70b", "qkv", 8192, 10240), ("70b", "o", 8192, 8192),
          ("70b", "gate_up", 8192, 57344), ("70b", "down", 28672, 8192)]
MS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096]


def median_us(fn, warmup=5, reps=30):
    for i in range(warmup):
        fn(i)
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for i, (s, e) in enumerate(ev):
        s.record()
        fn(warmup + i)
        e.record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) * 1e3 for s, e in ev)


def pack_int4(n, k):
    """Random 4-bit weights in tinygemm's layout. torch >= 2.5 takes uint8
    [n][k/2] (two codes per byte); older releases took int32 [n][k]."""
    try:
        w = torch.randint(0, 256, (n, k // 2), dtype=torch.uint8, device="cuda")
        return torch._convert_weight_to_int4pack(w, 8)
    except RuntimeError:
        w = torch.randint(0, 16, (n, k), dtype=torch.int32, device="cuda")
        return torch._convert_weight_to_int4pack(w, 8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", required=True)
    ap.add_argument("--group", type=int, default=128)
    args = ap.parse_args()
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    rows = []
    for model, name, k, n in SHAPES:
        try:
            packed = pack_int4(n, k)
            sz = (torch.rand(k // args.group, n, 2, device="cuda") * 0.02).to(torch.bfloat16)
            rot = max(1, math.ceil(2 * l2 / (n * k // 2)))
            ws = [packed.clone() for _ in range(rot)]
            for m in MS:
                a = [torch.rand(m, k, device="cuda", dtype=torch.bfloat16) * 2 - 1 for _ in range(rot)]
                t = median_us(lambda i: torch._weight_int4pack_mm(a[i % rot], ws[i % rot], args.group, sz))
                rows.append({"model": model, "name": name, "m": m, "n": n, "k": k, "median_us": t})
                print(f"tinygemm {model}.{name} m={m}: {t:.2f} us", flush=True)
        except Exception as exc:  # report and go on: one unsupported shape must not hide the rest
            print(f"tinygemm {model}.{name}: {exc}", flush=True)
    with open(args.json, "w") as f:
        json.dump({"peer": "torch._weight_int4pack_mm", "torch": torch.__version__, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
