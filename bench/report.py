#!/usr/bin/env python3
"""Turns scripts/bench.sh's raw timings into the markdown table (Python 3 standard library only).

    bench/report.py RESULTS.tsv > results.md

One line per timed run: op, services, layout, tool, run, wall-clock and CPU microseconds. Lines that
start with `#fact` hold what else the bench recorded (machine, peak memory, checks): tab-separated
keys, then a value. scripts/bench.sh keeps the file beside the table (bench/results.tsv), so the table
can be made again from it.
"""

import statistics
import sys
from collections import defaultdict

OPS = [
    ("render", "render all 3 environments, nothing to change"),
    ("promote", "promote dev → staging, every service, with the commit"),
    ("noop", "no-op promotion (staging → prod)"),
    ("set-image", "set-image dev, every service, with the commit"),
]
MIB = 1024


def load(path):
    times = defaultdict(list)
    cpu = defaultdict(list)
    facts = {}
    multi = defaultdict(list)
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if parts[0] == "#fact":
            facts[tuple(parts[1:-1])] = parts[-1]
            multi[tuple(parts[1:-1])].append(parts[-1])
            continue
        op, n, layout, tool, _run, us, cpu_us = parts
        times[(op, int(n), layout, tool)].append(int(us))
        cpu[(op, int(n), layout, tool)].append(int(cpu_us))
    return times, cpu, facts, multi


def ms(us):
    return us / 1000.0


def fmt_time(us):
    if us is None:
        return "—"
    t = ms(us)
    if t < 10:
        return f"{t:.1f} ms"
    if t < 1000:
        return f"{t:.0f} ms"
    if t < 10000:
        return f"{t / 1000:.2f} s"
    return f"{t / 1000:.1f} s"


def fmt_ratio(r):
    if r is None:
        return "—"
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


def fmt_kib(k):
    return "—" if k is None else f"{int(k) / MIB:.1f} MiB"


def main():
    times, cpu, facts, multi = load(sys.argv[1])
    runs = int(facts.get(("runs",), "5"))

    def med(op, n, layout, tool):
        v = times.get((op, n, layout, tool))
        return statistics.median(v) if v else None

    def med_cpu(op, n, layout, tool):
        v = cpu.get((op, n, layout, tool))
        return statistics.median(v) if v else None

    def count(op, n, layout, tool):
        return len(times.get((op, n, layout, tool), []))

    def ratio(a, b):
        return a / b if a is not None and b else None

    def peak(op, n, layout):
        v = facts.get(("peak", op, str(n), layout))
        return int(v) if v else None

    sizes = sorted({k[1] for k in times if k[0] in dict(OPS)})
    out = []
    w = out.append
    w("## promote benchmark\n")
    w(
        f"{facts.get(('date',), '?')} · {facts.get(('nproc',), '?')} CPUs ({facts.get(('cpu',), '?')}) · "
        f"{facts.get(('kernel',), '?')} · git {facts.get(('git',), '?')} · {facts.get(('jq',), '?')} · "
        f"{facts.get(('sed',), '?')}  "
    )
    w(
        f"promote {facts.get(('promote',), '?')} · load average {facts.get(('load',), '?')} at the start, "
        f"{facts.get(('load-end',), '?')} at the end · the bench took {facts.get(('elapsed',), '?')} s\n"
    )
    w(
        f"Median of {runs} runs per cell, the tools alternating run by run, every run from the same "
        "settled repository (reset to the commit before, file times and index restored). "
        "**baseline**: the legacy script (`bench/baseline/`, one `sed` process per template, `jq` for the "
        "metadata, `git add` + `git commit`), on the legacy layout. **floor**: read the templates with one "
        "`cat`, copy the files the change writes into place, `git update-index` + `git commit` them "
        "(`bench/floor.sh`); for render and no-op it only reads what must be compared. "
        f"Baseline cells marked (k) had k runs: further runs were skipped after "
        f"{facts.get(('budget',), '?')} s of baseline time. Peak memory: maximum resident set size "
        f"of promote and the git processes it runs ({facts.get(('memtool',), '?')}). "
        "promote CPU: user + system time of promote and the git processes it runs (less sensitive "
        "than the wall clock to other load on the machine).\n"
    )

    w("| operation | services | layout | baseline (sed + jq) | floor | promote | baseline ÷ promote | promote ÷ floor | promote CPU | promote peak memory |")
    w("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for op, title in OPS:
        for n in sizes:
            for layout in ("legacy", "native"):
                b = med(op, n, layout, "baseline")
                f = med(op, n, layout, "floor")
                p = med(op, n, layout, "promote")
                if p is None:
                    continue
                bc = count(op, n, layout, "baseline")
                bcell = fmt_time(b) + (f" ({bc})" if b is not None and bc < runs else "")
                w(
                    f"| {title} | {n:,} | {layout} | {bcell} | {fmt_time(f)} | {fmt_time(p)} | "
                    f"{fmt_ratio(ratio(b, p))} | {fmt_ratio(ratio(p, f))} | {fmt_time(med_cpu(op, n, layout, 'promote'))} | "
                    f"{fmt_kib(peak(op, n, layout))} |"
                )
    w("")

    # History depth.
    hist = sorted({k[0] for k in times if k[0].startswith("history-")}, key=lambda s: int(s.split("-")[1]))
    if len(hist) == 2:
        shallow, deep = hist
        hn = next(k[1] for k in times if k[0] == deep)
        dn = int(deep.split("-")[1])
        hr = facts.get(("hruns",), "?")
        w(
            f"History depth: promote dev → staging at {hn:,} services, on 1 commit of history and on {dn:,} commits "
            f"(median of {hr} runs, alternating, in the same work tree: only the git directory differs).\n"
        )
        w(f"| tool | layout | 1 commit | {dn:,} commits | {dn:,} ÷ 1 | {dn:,} ÷ 1, fastest runs | {dn:,} ÷ 1, CPU |")
        w("|---|---|---:|---:|---:|---:|---:|")
        for tool, layout in (("baseline", "legacy"), ("promote", "legacy"), ("promote", "native")):
            a = med(shallow, hn, layout, tool)
            b = med(deep, hn, layout, tool)
            if a is None:
                continue
            fa = min(times[(shallow, hn, layout, tool)])
            fb = min(times[(deep, hn, layout, tool)])
            w(
                f"| {tool} | {layout} | {fmt_time(a)} | {fmt_time(b)} | {fmt_ratio(ratio(b, a))} | "
                f"{fmt_ratio(ratio(fb, fa))} | {fmt_ratio(ratio(med_cpu(deep, hn, layout, tool), med_cpu(shallow, hn, layout, tool)))} |"
            )
        w("")

    # Scaling.
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        w(f"Scaling: promote's time at {hi:,} services ÷ at {lo:,} ({hi / lo:.0f}× the services; {hi / lo:.0f}× the time is linear).\n")
        w("| operation | legacy | native |")
        w("|---|---:|---:|")
        for op, title in OPS:
            cells = [fmt_ratio(ratio(med(op, hi, l, "promote"), med(op, lo, l, "promote"))) for l in ("legacy", "native")]
            w(f"| {title} | {cells[0]} | {cells[1]} |")
        w("")

    # promote report --html.
    rep = sorted(k for k in times if k[0] == "report")
    for key in rep:
        n = key[1]
        size = facts.get(("report", "bytes"))
        w(
            f"`promote report --html` at {n:,} services and {int(facts.get(('report', 'records'), '0')):,} deploy.log "
            f"records (native layout, 3 environments): median {fmt_time(med(*key))} of {len(times[key])} runs, "
            f"CPU {fmt_time(med_cpu(*key))}, peak memory {fmt_kib(peak('report', n, 'native'))}, "
            f"page {int(size) // 1024 if size else '?'} KiB.\n"
        )

    # The targets.
    w("Targets:\n")
    w("| target | measured | met |")
    w("|---|---|:-:|")
    big = 1000 if 1000 in sizes else None

    def verdict(ok):
        return "n/a" if ok is None else ("yes" if ok else "**no**")

    if big:
        r = ratio(med("promote", big, "legacy", "baseline"), med("promote", big, "legacy", "promote"))
        w(f"| promote dev → staging at 1,000 services ≥ 50× faster than the baseline | {fmt_ratio(r)} (legacy layout) | {verdict(None if r is None else r >= 50)} |")
        fl = [ratio(med("promote", big, l, "promote"), med("promote", big, l, "floor")) for l in ("legacy", "native")]
        ok = None if None in fl else all(x <= 1.3 for x in fl)
        w(f"| … and within 1.3× of the floor | {fmt_ratio(fl[0])} legacy, {fmt_ratio(fl[1])} native | {verdict(ok)} |")
        rt = [med("render", big, l, "promote") for l in ("legacy", "native")]
        wr = [max((int(v) for v in multi.get(("written", "render", str(big), l), ["0"])), default=0) for l in ("legacy", "native")]
        ok = None if None in rt else all(ms(t) < 150 for t in rt) and not any(wr)
        w(f"| render all 3 environments at 1,000 services, nothing to change: < 150 ms, writes nothing | {fmt_time(rt[0])} legacy, {fmt_time(rt[1])} native; files written: {wr[0]}, {wr[1]} | {verdict(ok)} |")
    else:
        w("| the 1,000-service targets | not measured (BENCH_SIZES) | n/a |")
    nt = {(n, l): med("noop", n, l, "promote") for n in sizes for l in ("legacy", "native")}
    worst = max((v for v in nt.values() if v is not None), default=None)
    commits = sum(int(v) for k, vs in multi.items() if k[:2] == ("commits", "noop") for v in vs)
    w(f"| a no-op promotion < 50 ms, no commit | at most {fmt_time(worst)} (every size and layout); commits made: {commits} | {verdict(None if worst is None else ms(worst) < 50 and commits == 0)} |")
    if len(hist) == 2:
        rs = [ratio(med(deep, hn, l, "promote"), med(shallow, hn, l, "promote")) for l in ("legacy", "native")]
        fs = [
            ratio(min(times.get((deep, hn, l, "promote"), [0])), min(times.get((shallow, hn, l, "promote"), [0])))
            for l in ("legacy", "native")
        ]
        ok = None if None in rs else all(x <= 1.10 for x in rs)
        w(
            f"| cost flat in history depth: {dn:,} commits within 10% of 1 | medians {fmt_ratio(rs[0])} legacy, {fmt_ratio(rs[1])} native; "
            f"fastest runs {fmt_ratio(fs[0])}, {fmt_ratio(fs[1])} | {verdict(ok)} |"
        )
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        rs = [ratio(med(op, hi, l, "promote"), med(op, lo, l, "promote")) for op, _ in OPS for l in ("legacy", "native")]
        rs = [x for x in rs if x is not None]
        worst_r = max(rs) if rs else None
        w(f"| linear in services ({hi / lo:.0f}× the services, at most {hi / lo:.0f}× the time) | at most {fmt_ratio(worst_r)} | {verdict(None if worst_r is None else worst_r <= hi / lo)} |")
    if big:
        peaks = [peak(op, big, l) for op, _ in OPS for l in ("legacy", "native")]
        peaks = [p for p in peaks if p is not None]
        top = max(peaks) if peaks else None
        w(f"| peak memory < 64 MiB at 1,000 services | at most {fmt_kib(top)} | {verdict(None if top is None else top < 64 * MIB)} |")
    for key in rep:
        p = med(*key)
        w(
            f"| `promote report --html` at {key[1]:,} services and {int(facts.get(('report', 'records'), '0')):,} records "
            f"well under a second | {fmt_time(p)} (CPU {fmt_time(med_cpu(*key))}) | {verdict(None if p is None else ms(p) < 1000)} |"
        )
    w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
