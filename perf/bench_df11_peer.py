"""The peer: the dfloat11 package's own GPU decoder (PyPI dfloat11 0.5.0: its
decode.ptx, launched through CuPy with the grid, block and shared memory the
package uses) on the tensors that bench_df11 timed in the same suite run
(bench_df11 --dump DIR), beside tessera's numbers from bench_df11 --json.

The peer's stream is built with the package's own code: its Huffman code
(dfloat11_utils.get_32bit_codec over dahuffman) and its lookup tables
(get_luts), run unmodified from the wheel. Only the bit packing of its
`encode`, a Python loop over every weight (tens of minutes for a 2 GB stream),
is redone here with numpy; --selftest checks that the packing gives byte for
byte what the package's `encode` gives, and every timed decode is first
checked bit for bit against the original weights.

    bench_df11_peer.py --selftest --wheels DIR
    bench_df11_peer.py --sizes-only --dump DIR --wheels DIR     (no GPU needed)
    bench_df11_peer.py --dump DIR --wheels DIR --ours df11.json --json OUT [--max-mb N]

--wheels holds dfloat11-*.whl, dahuffman-*.whl and tqdm-*.whl
(perf/gpu_suite_prepare.sh downloads them); the GPU machine needs numpy and
CuPy, and torch when it has it (a stand-in is used otherwise).
"""
import argparse
import contextlib
import glob
import importlib.util
import io
import json
import math
import os
import statistics
import sys
import tempfile
import types
import zipfile

import numpy as np

BYTES_PER_THREAD = 8     # the package's constants (dfloat11.py, version 0.5.0)
THREADS_PER_BLOCK = 512


def load_peer(wheels):
    """Imports dfloat11_utils from the wheel without the package's __init__
    (which pulls in transformers and accelerate); returns (module, ptx path)."""
    def one(pattern):
        found = sorted(glob.glob(os.path.join(wheels, pattern)))
        if not found:
            sys.exit(f"bench_df11_peer: no {pattern} in {wheels} (run perf/gpu_suite_prepare.sh)")
        return found[-1]
    for pure in ("dahuffman-*.whl", "tqdm-*.whl"):
        sys.path.insert(0, one(pure))  # pure-Python wheels import from the zip
    os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        import torch  # noqa: F401  (the package's helpers return torch tensors)
    except ImportError:
        sys.modules["torch"] = types.SimpleNamespace(from_numpy=lambda a: a)
    where = tempfile.mkdtemp(prefix="dfloat11_wheel_")
    with zipfile.ZipFile(one("dfloat11-*.whl")) as z:
        z.extractall(where)
    spec = importlib.util.spec_from_file_location("dfloat11_utils", os.path.join(where, "dfloat11", "dfloat11_utils.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, os.path.join(where, "dfloat11", "decode.ptx")


def peer_code(mod, exps):
    """The package's code for these exponents, as compress_model builds it:
    counts in ascending symbol order, get_32bit_codec, get_luts."""
    counts = np.bincount(exps, minlength=256)
    counter = {int(s): int(counts[s]) for s in np.flatnonzero(counts)}
    with contextlib.redirect_stdout(io.StringIO()):  # get_luts prints its tables
        codec, _, table = mod.get_32bit_codec(counter)
        luts = mod.get_luts(table)
    luts = luts.numpy() if hasattr(luts, "numpy") else np.asarray(luts)
    lens = np.zeros(256, np.int64)
    codes = np.zeros(256, np.uint64)
    for sym, (bits, val) in table.items():
        if isinstance(sym, int):
            lens[sym], codes[sym] = bits, val
    return codec, np.ascontiguousarray(luts, np.uint8), lens, codes, codec._table[codec._eof]


def _or_codes(words, starts, lens, codes):
    """ORs MSB-first codes (<= 32 bits) starting at bit `starts` into 64-bit
    words; `starts` ascending, so the codes of one word are contiguous."""
    w = starts >> 6
    shift = 64 - (starts & 63) - lens                     # > -32
    fits = shift >= 0
    hi = np.where(fits, codes << np.where(fits, shift, 0).astype(np.uint64),
                  codes >> np.where(fits, 0, -shift).astype(np.uint64))
    first = np.flatnonzero(np.r_[True, w[1:] != w[:-1]])
    words[w[first]] |= np.bitwise_or.reduceat(hi, first)
    cross = ~fits                                          # at most one per word boundary
    words[w[cross] + 1] |= codes[cross] << (64 + shift[cross]).astype(np.uint64)


def pack_stream(exps, lens, codes, eof, chunk=1 << 25):
    """The package's `encode(data, codec, 8, 512)`, vectorised: returns
    (encoded exponent bytes, packed 5-bit gaps, output positions), the same
    arrays byte for byte."""
    n = exps.size
    total = int(lens[exps].sum(dtype=np.int64)) if n else 0
    words = np.zeros(total // 64 + 2, np.uint64)
    gaps, positions = [], []
    prev_w = prev_b = -1
    bit = 0
    for lo in range(0, n, chunk):
        e = exps[lo:lo + chunk]
        ln = lens[e]
        starts = bit + np.cumsum(ln) - ln
        bit = int(starts[-1] + ln[-1])
        _or_codes(words, starts, ln, codes[e])
        # a gap per 64-bit window (where its first code starts) and an output
        # position per 4096-byte block (the first element starting in it)
        for shift, prev, out, value in ((6, prev_w, gaps, lambda i: starts[i] & 63),
                                        (15, prev_b, positions, lambda i: i + lo)):
            win = starts >> shift
            new = np.flatnonzero(np.r_[win[0] != prev, win[1:] != win[:-1]])
            if new.size and not np.array_equal(win[new], np.arange(prev + 1, prev + 1 + new.size)):
                raise AssertionError("a window without a code start: cannot happen with codes <= 32 bits")
            out.append(np.asarray(value(new), np.int64))
        prev_w, prev_b = int(starts[-1] >> 6), int(starts[-1] >> 15)
    assert bit == total
    if total % 8:  # the package ends a partial byte with the start of its EOF code
        eof_len, eof_code = eof
        _or_codes(words, np.array([total], np.int64), np.array([eof_len], np.int64), np.array([eof_code], np.uint64))
        if total >> 6 > prev_w:
            gaps.append(np.array([total & 63], np.int64))
        if total >> 15 > prev_b:
            positions.append(np.array([n], np.int64))
    n_bytes = (total + 7) // 8
    encoded = words.astype(">u8").view(np.uint8)[:n_bytes].copy()
    gaps = np.concatenate(gaps) if gaps else np.zeros(0, np.int64)
    blocks = math.ceil(n_bytes / (THREADS_PER_BLOCK * BYTES_PER_THREAD))
    gaps = np.concatenate([gaps, np.zeros(THREADS_PER_BLOCK * blocks - gaps.size, np.int64)])
    bits = ((gaps[:, None] >> np.arange(4, -1, -1)) & 1).astype(np.uint8).ravel()
    positions = np.concatenate(positions + [np.array([n], np.int64)]).astype(np.uint32)
    return encoded, np.packbits(bits), positions


def split(vals):
    exps = ((vals >> 7) & 0xFF).astype(np.uint8)
    sign_mantissa = (((vals >> 8) & 0x80) | (vals & 0x7F)).astype(np.uint8)
    return exps, sign_mantissa


def gaussian_bf16(rng, n, sigma=0.02):
    f = (rng.standard_normal(n) * sigma).astype(np.float32).view(np.uint32)
    return ((f + 0x7FFF + ((f >> 16) & 1)) >> 16).astype(np.uint16)


def selftest(mod):
    """Our packing against the package's own `encode`, byte for byte."""
    rng = np.random.default_rng(11)
    cases = [("gaussian", gaussian_bf16(rng, n)) for n in (1, 2, 7, 100, 4096, 12345, 40000, 100003)]
    cases += [("gaussian", gaussian_bf16(rng, int(n))) for n in rng.integers(1, 30000, 40)]
    cases.append(("one exponent", np.full(5000, 0x3F80, np.uint16) | rng.integers(0, 128, 5000).astype(np.uint16)))
    cases.append(("all patterns", np.arange(65536, dtype=np.uint16)))
    skew = rng.zipf(1.3, 60000) % 256  # long codes: up to the 32-bit limit
    cases.append(("skewed exponents", ((skew.astype(np.uint16) << 7) | rng.integers(0, 128, skew.size).astype(np.uint16))))
    longest = checked = 0
    for i, (what, vals) in enumerate(cases):
        exps, _ = split(vals)
        try:
            codec, _, lens, codes, eof = peer_code(mod, exps)
        except UnboundLocalError as e:  # get_luts fails when a table's entry 0 is the EOF code's
            print(f"selftest: case {i} ({what}, n={vals.size}): the package cannot build its tables ({e})")
            continue
        want = mod.encode(exps.tolist(), codec, BYTES_PER_THREAD, THREADS_PER_BLOCK)
        for chunk in (1 << 25, 997):
            got = pack_stream(exps, lens, codes, eof, chunk)
            for name, a, b in zip(("encoded", "gaps", "output_positions"), got, want):
                if a.dtype != b.dtype or not np.array_equal(a, b):
                    sys.exit(f"selftest FAILED: case {i} ({what}, n={vals.size}, chunk {chunk}): {name} differs")
        longest = max(longest, int(lens.max()))
        checked += 1
    if checked < len(cases) - 5:  # the tiny ones above may hit that
        sys.exit(f"selftest FAILED: only {checked} of {len(cases)} tensors could be encoded by the package")
    print(f"selftest: the numpy packing equals dfloat11's encode() on {checked} tensors "
          f"(1..100003 weights, longest code {longest} bits)")


def peer_stream(mod, vals):
    """The package's arrays for these weights, and the bytes they take."""
    exps, sign_mantissa = split(vals)
    _, luts, lens, codes, eof = peer_code(mod, exps)
    encoded, gaps, positions = pack_stream(exps, lens, codes, eof)
    stored = encoded.nbytes + sign_mantissa.nbytes + positions.nbytes + gaps.nbytes + luts.nbytes
    return exps, (luts, encoded, sign_mantissa, positions, gaps), stored


def time_peer(mod, cp, decode, vals, samples):
    """Encodes with the package's code, decodes on the GPU, checks, times."""
    _, arrays, stored = peer_stream(mod, vals)
    luts, encoded, _, positions, _ = arrays
    n, n_bytes = vals.size, encoded.size
    # copies of the inputs that together exceed 2x L2, as bench_df11 rotates its containers
    l2 = cp.cuda.Device().attributes.get("L2CacheSize", 50 << 20)
    rot = max(1, min(64, math.ceil(2 * l2 / stored)))
    out = cp.empty(n, dtype=cp.uint16)
    out.fill(0xFFFF)
    grid = (math.ceil(n_bytes / (THREADS_PER_BLOCK * BYTES_PER_THREAD)),)
    shared = THREADS_PER_BLOCK * 4 + 4 + int((positions[1:].astype(np.int64) - positions[:-1]).max()) * 2
    args = []
    for _ in range(rot):
        d = [cp.asarray(x) for x in arrays]
        args.append((*d, out, np.uint32(luts.shape[0]), np.uint32(n_bytes), np.uint32(n)))
    decode(grid, (THREADS_PER_BLOCK,), args[0], shared_mem=shared)
    cp.cuda.Device().synchronize()
    if not bool(cp.array_equal(out, cp.asarray(vals))):
        raise RuntimeError("dfloat11's decoder did not reproduce the weights")
    for i in range(3):
        decode(grid, (THREADS_PER_BLOCK,), args[i % rot], shared_mem=shared)
    times = []
    for i in range(samples):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record()
        decode(grid, (THREADS_PER_BLOCK,), args[i % rot], shared_mem=shared)
        b.record()
        b.synchronize()
        times.append(cp.cuda.get_elapsed_time(a, b) * 1e3)
    return statistics.median(times), 100.0 * stored / (2.0 * n), shared


def copy_gbs(cp):
    """Device-to-device copy of 1 GiB, bytes read + written per second."""
    src = cp.ones(1 << 29, dtype=cp.uint16)
    dst = cp.empty_like(src)
    times = []
    for i in range(13):
        a, b = cp.cuda.Event(), cp.cuda.Event()
        a.record()
        dst[...] = src
        b.record()
        b.synchronize()
        if i >= 3:
            times.append(cp.cuda.get_elapsed_time(a, b) * 1e-3)
    return 2 * src.nbytes / statistics.median(times) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheels", required=True)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--sizes-only", action="store_true")
    ap.add_argument("--dump")
    ap.add_argument("--ours")
    ap.add_argument("--json")
    ap.add_argument("--max-mb", type=int, default=2048)
    ap.add_argument("--samples", type=int, default=20)
    args = ap.parse_args()
    mod, ptx = load_peer(args.wheels)
    if args.selftest:
        selftest(mod)
        return
    if not args.dump or not (args.json or args.sizes_only):
        ap.error("--dump, and --json or --sizes-only, are needed")
    man = json.load(open(os.path.join(args.dump, "manifest.json")))
    stream = np.fromfile(os.path.join(args.dump, man["stream_file"]), dtype="<u2")
    todo = [(f"{mb} MB stream", stream[:mb << 19]) for mb in man["streams_mb"] if mb <= args.max_mb]
    todo.append((man["block_label"], np.fromfile(os.path.join(args.dump, man["block_file"]), dtype="<u2")))
    if args.sizes_only:
        sizes(mod, todo)
        return
    import cupy as cp
    decode = cp.RawModule(path=ptx).get_function("decode")
    rows = []
    bw = copy_gbs(cp)
    for label, vals in todo:
        us, ratio, shared = time_peer(mod, cp, decode, vals, args.samples)
        gbs = 2.0 * vals.size / (us * 1e-6) / 1e9
        rows.append({"label": label, "weights": int(vals.size), "median_us": us, "bf16_out_gbs": gbs,
                     "ratio_pct": ratio, "shared_mem": shared})
        print(f"dfloat11 {label}: {us:.1f} us, {gbs:.0f} GB/s of bf16 output, {ratio:.2f}% of bf16", flush=True)
    res = {"peer": "dfloat11 0.5.0 decode.ptx via CuPy " + cp.__version__, "copy_gbs": bw, "rows": rows}
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)
    if args.ours:
        report(json.load(open(args.ours)), res)


def sizes(mod, todo):
    """What the package stores for each tensor set, and the bound: the exponents'
    entropy plus the raw sign+mantissa byte, as % of bf16."""
    print("| tensors | weights | dfloat11 stores, % of bf16 | exponent-entropy bound |")
    print("|---|---|---|---|")
    for label, vals in todo:
        exps, _, stored = peer_stream(mod, vals)
        p = np.bincount(exps, minlength=256) / exps.size
        h = -(p[p > 0] * np.log2(p[p > 0])).sum()
        print(f"| {label} | {vals.size} | {100 * stored / (2 * vals.size):.2f}% | {100 * (h / 8 + 1) / 2:.2f}% |", flush=True)


def report(ours, peer):
    print(f"device: {ours['device']['name']}, commit {ours['commit']}; copy bandwidth {ours['copy_gbs']:.0f} GB/s "
          f"(tessera's run), {peer['copy_gbs']:.0f} GB/s (peer's run); peer {peer['peer']}\n")
    print("| tensors | tessera µs | dfloat11 µs | speedup | tessera GB/s | dfloat11 GB/s | tessera % of copy | "
          "tessera chunk steps, size | dfloat11 size |")
    print("|---|---|---|---|---|---|---|---|---|")
    # one row per tessera chunk length (bench_df11 times several; the config
    # says "<steps> steps, <size>% of bf16"), each against the same peer row
    for t in ours["rows"]:
        p = next((p for p in peer["rows"] if p["label"] == t["shape"]), None)
        if not p:
            continue
        gbs = 2.0 * p["weights"] / (t["median_us"] * 1e-6) / 1e9
        traffic = t["bytes"] / (t["median_us"] * 1e-6) / 1e9
        print(f"| {p['label']} | {t['median_us']:.1f} | {p['median_us']:.1f} | {p['median_us'] / t['median_us']:.2f}x | "
              f"{gbs:.0f} | {p['bf16_out_gbs']:.0f} | {100 * traffic / ours['copy_gbs']:.0f}% | {t['config']} | "
              f"{p['ratio_pct']:.2f}% of bf16 |")


if __name__ == "__main__":
    main()
