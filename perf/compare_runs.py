#!/usr/bin/env python3
"""Compares two GPU suite runs row by row: what a change did to the speed.

    perf/compare_runs.py OLD_DIR NEW_DIR [--out FILE]
    perf/compare_runs.py OLD.json NEW.json [--out FILE]

For every benchmark JSON file (bench_w4a16 / bench_df11 format: a "rows"
list with op, shape, dtype, config, median_us, peer, peer_us) in both
directories, rows with the same op, shape, dtype and config are paired and
the table gives both medians and the speedup old/new. The peer's medians
(cuBLAS, dfloat11, measured in each run beside ours) give the run-to-run
drift of the machine: a speedup is only a result where it is larger than the
peer's drift on the same rows. Per file: the geometric mean and range of both.
Given two files instead, it compares them (rows paired by op, shape and dtype,
whatever their configuration): two configurations timed in the same run, as
the suite does for the W4A16 prefill candidates.
Only the standard library; the suite's machines have python3.
"""
import json
import math
import os
import sys


def load_rows(path, with_config=True):
    with open(path) as f:
        doc = json.load(f)
    rows = {}
    for r in doc.get("rows", []):
        key = (r.get("op"), r.get("shape"), r.get("dtype"), r.get("config") if with_config else "")
        rows[key] = r
    return doc, rows


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def compare_files(old_path, new_path, title, with_config=True):
    """The table for one pair of files; ([], False) when no row pairs up."""
    out = []
    try:
        old_doc, old = load_rows(old_path, with_config)
        new_doc, new = load_rows(new_path, with_config)
    except (ValueError, OSError) as e:
        return ["## %s\nunreadable: %s\n" % (title, e)], False
    keys = [k for k in new if k in old and old[k].get("median_us", 0) > 0 and new[k].get("median_us", 0) > 0]
    if not keys:
        return out, False
    out.append("## %s: %s (%s) -> %s (%s)" % (title, old_doc.get("commit", "?"), old_doc.get("date", "?"),
                                              new_doc.get("commit", "?"), new_doc.get("date", "?")))
    out.append("copy bandwidth %.0f -> %.0f GB/s\n" % (old_doc.get("copy_gbs", 0), new_doc.get("copy_gbs", 0)))
    out.append("| op | shape | dtype | config | old µs | new µs | speedup | peer old µs | peer new µs | peer drift |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    speedups, drifts = [], []
    for k in keys:
        o, n = old[k], new[k]
        s = o["median_us"] / n["median_us"]
        speedups.append(s)
        po, pn = o.get("peer_us", -1), n.get("peer_us", -1)
        drift = po / pn if po > 0 and pn > 0 else None
        if drift:
            drifts.append(drift)
        config = k[3] if with_config else "%s -> %s" % (o.get("config", "?"), n.get("config", "?"))
        out.append("| %s | %s | %s | %s | %.2f | %.2f | %.3fx | %s | %s | %s |" % (
            k[0], k[1], k[2], config, o["median_us"], n["median_us"], s,
            "%.2f" % po if po > 0 else "-", "%.2f" % pn if pn > 0 else "-",
            "%.3fx" % drift if drift else "-"))
    out.append("")
    out.append("speedup old/new over %d rows: geometric mean %.3fx, range %.3f-%.3fx" % (
        len(speedups), geomean(speedups), min(speedups), max(speedups)))
    if drifts:
        out.append("peer drift (same rows): geometric mean %.3fx, range %.3f-%.3fx" % (
            geomean(drifts), min(drifts), max(drifts)))
    out.append("")
    return out, True


def compare(old_dir, new_dir):
    out = []
    names = sorted(n for n in os.listdir(new_dir) if n.endswith(".json") and os.path.exists(os.path.join(old_dir, n)))
    if not names:
        out.append("no benchmark JSON file in both %s and %s" % (old_dir, new_dir))
        return out, False
    found = False
    for name in names:
        lines, ok = compare_files(os.path.join(old_dir, name), os.path.join(new_dir, name), name)
        out += lines
        found = found or ok
    return out, found


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    out_path = None
    if "--out" in argv:
        i = argv.index("--out")
        if i + 1 >= len(argv):
            print("--out needs a file", file=sys.stderr)
            return 2
        out_path = argv[i + 1]
        args = [a for a in args if a != out_path]
    if len(args) == 2 and all(os.path.isfile(a) for a in args):
        lines, found = compare_files(args[0], args[1], "%s -> %s" % (os.path.basename(args[0]), os.path.basename(args[1])),
                                     with_config=False)
        if not found:
            lines.append("no row of %s pairs with one of %s" % (args[1], args[0]))
    elif len(args) == 2 and all(os.path.isdir(a) for a in args):
        lines, found = compare(args[0], args[1])
    else:
        print("\n".join(l.strip() for l in __doc__.strip().splitlines()[2:4]), file=sys.stderr)
        return 2
    text = "\n".join(lines) + "\n"
    if out_path:
        with open(out_path, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
