"""Puts tessera's bf16 W4A16 rows (bench_w4a16 --json) beside tinygemm's
(bench_tinygemm.py --json), measured in the same suite run, as a markdown table."""
import json
import sys


def main():
    ours = json.load(open(sys.argv[1]))
    peer = json.load(open(sys.argv[2]))
    theirs = {(r["m"], r["n"], r["k"]): r["median_us"] for r in peer["rows"]}
    print(f"device: {ours['device']['name']}, commit {ours['commit']}, copy {ours['copy_gbs']:.0f} GB/s, peer {peer['peer']} (torch {peer['torch']})\n")
    print("| op | m,n,k | tessera µs | tinygemm µs | speedup | cuBLAS bf16 µs | vs cuBLAS |")
    print("|---|---|---|---|---|---|---|")
    for r in ours["rows"]:
        m, n, k = (int(x) for x in r["shape"].split(","))
        t = theirs.get((m, n, k))
        sp = f"{t / r['median_us']:.2f}x" if t else "-"
        ts = f"{t:.2f}" if t else "-"
        print(f"| {r['op']} | {r['shape']} | {r['median_us']:.2f} | {ts} | {sp} | {r['peer_us']:.2f} | {r['peer_us'] / r['median_us']:.2f}x |")


if __name__ == "__main__":
    main()
