#!/usr/bin/env python3
"""How often a capacity step decides wrongly, and how often the search's interval holds the capacity, in the
simulator's documented engine model (docs/simulator.md; the same rules as tests/common/engine_model.rs).

Figures for docs/capacity.md. It re-implements, in a few lines each, the step judgement of
src/capacity/judge.rs (with and without the effective sample size) and the search of src/capacity/search.rs,
then runs them against the model over many seeds — no network, no binary, about a minute.

Usage: scripts/capacity-model.py [--seeds N] [--cap REQUESTS] [--confidence 0.95|0.99] [--saturation]
"""
import argparse
import math
import random
from collections import deque

Z = 1.959963984540054  # two-sided 95 % (--confidence 0.99: 2.5758)
ALPHA = 0.05
SLOTS, F, D, OUT = 4, 5.0, 5.0, 20  # the TTFT-through-queueing setting of tests/capacity_binary.rs
TARGET, Q, GOODPUT, WARM = 100.0, 0.9, 0.8, 5


def engine(arrivals, slots=SLOTS, f=F, d=D, r=0.0):
    """The engine model (ms): iterations admit waiting requests into free slots, a prefill of `f` gives the
    admitted their first token, each decode step of `d + r·running` gives every running one a token. Returns
    each request's first-token and finish times."""
    n = len(arrivals)
    first, fin = [0.0] * n, [0.0] * n
    queue, batch, t, done = deque(range(n)), [], 0.0, 0
    while done < n:
        if not batch:
            t = max(t, arrivals[queue[0]])
        admitted = []
        while len(batch) + len(admitted) < slots and queue and arrivals[queue[0]] <= t:
            admitted.append(queue.popleft())
        if admitted:
            t += f
            for i in admitted:
                first[i] = t
            batch += [[i, 1] for i in admitted]
        if batch:
            t += d + r * len(batch)
            for b in batch:
                b[1] += 1
                if b[1] >= OUT:
                    fin[b[0]] = t
            done += sum(b[1] >= OUT for b in batch)
            batch = [b for b in batch if b[1] < OUT]
    return first, fin


def ttfts(arrivals):
    """TTFT (ms) of each request in the TTFT setting."""
    first, _ = engine(arrivals)
    return [f - a for f, a in zip(first, arrivals)]


def tau(values):
    """Integrated autocorrelation time on midranks, Geyer's initial positive sequence (src/capacity/stats.rs)."""
    n = len(values)
    order = sorted(range(n), key=lambda i: values[i])
    ranks, i = [0.0] * n, 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            ranks[k] = (i + j) / 2
        i = j + 1
    mean = sum(ranks) / n
    d = [r - mean for r in ranks]
    var = sum(x * x for x in d) / n
    if n < 4 or var == 0:
        return 1.0
    rho = lambda k: sum(d[i] * d[i + k] for i in range(n - k)) / n / var
    t, m = -1.0, 0
    while 2 * m + 1 < n:
        pair = rho(2 * m) + rho(2 * m + 1)
        if pair <= 0:
            break
        t, m = t + 2 * pair, m + 1
    return max(1.0, t)


def binom_ranks(n, q):
    cdf, s = [], 0.0
    for j in range(n + 1):
        s += math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * math.log(q)
                      + (n - j) * math.log(1 - q))
        cdf.append(min(s, 1.0))
    at = lambda j: 0.0 if j < 0 else cdf[j]
    lo = 0
    for c in range(1, n + 1):
        if at(c - 1) > ALPHA / 2:
            break
        lo = c
    hi = next((c for c in range(1, n + 1) if at(c - 1) >= 1 - ALPHA / 2), n + 1)
    return lo, hi


def judge(values, at_cap, effective):
    """(verdict, conclusive) for a p90 target and a goodput target on `values` in send order."""
    n, s = len(values), sorted(values)
    m = max(1, math.floor(n / tau(values))) if effective else n
    lo, hi = binom_ranks(m, Q)
    if m < n:
        lo = math.floor(lo * n / m) if lo >= 1 else 0
        hi = math.ceil(hi * n / m) if hi <= m else n + 1
    q_lo = s[lo - 1] if 1 <= lo <= n else None
    q_hi = s[hi - 1] if 1 <= hi <= n else None
    p = sum(v <= TARGET for v in values) / n
    den = 1 + Z * Z / m
    centre, half = (p + Z * Z / (2 * m)) / den, Z / den * math.sqrt(p * (1 - p) / m + Z * Z / (4 * m * m))
    g_lo, g_hi = centre - half, centre + half
    if (q_lo is not None and q_lo > TARGET) or g_hi < GOODPUT:
        return "fail", True
    if q_hi is not None and q_hi <= TARGET and g_lo >= GOODPUT:
        return "pass", True
    if at_cap:
        estimate = s[min(n, max(1, math.ceil(Q * n))) - 1]
        return ("pass" if estimate <= TARGET and p >= GOODPUT else "fail"), False
    return "more", False


def step(rate, gaps, cap, effective):
    """A step at `rate` req/s, at most `cap` judged requests. With `effective` (this version), judged at looks
    of 20 (a pass: 50) requests, then 1.5 times the last, and at the cap (src/capacity/step.rs); without (the
    earlier version), every 5 requests from 20."""
    t, arrivals = 0.0, []
    for g in gaps[:cap + WARM]:
        t += g / rate * 1000
        arrivals.append(t)
    values = ttfts(arrivals)[WARM:]
    if effective:
        looks, n = set(), 20
        while n < cap:
            looks.add(n)
            n = max(n + 5, math.ceil(n * 3 / 2 / 5) * 5)
        pass_looks, n = set(), 50
        while n < cap:
            pass_looks.add(n)
            n = max(n + 5, math.ceil(n * 3 / 2 / 5) * 5)
    else:
        looks = pass_looks = set(range(20, cap, 5))
    for n in range(1, cap + 1):
        if n not in looks and n not in pass_looks and n != cap:
            continue
        verdict, conclusive = judge(values[:n], n == cap, effective)
        if verdict == "pass" and n not in pass_looks and n != cap:
            continue
        if verdict == "fail" or (verdict == "pass" and n >= 50) or n == cap:
            s = sorted(values[:n])
            margin = (TARGET - s[min(n, max(1, math.ceil(Q * n))) - 1]) / TARGET
            return verdict, conclusive, n + WARM, margin


def r3(x):
    scale = 10 ** (2 - math.floor(math.log10(x)))
    return round(x * scale) / scale


def search(seed, cap, effective):
    """The search: bracket ×2 from 8 req/s, bisect to 10 %; with `effective`, the rules of this version (an
    undecided step ends the bisection, the interval's ends are conclusive steps, outward steps close it);
    without, the earlier ones (every verdict bounds the interval)."""
    rng = random.Random(seed)
    gaps = [rng.expovariate(1) for _ in range(cap + WARM)]
    lo = hi = sure_lo = sure_hi = None
    loads, used, load, bisected, margins = [], 0, 8.0, False, {}
    while load is not None:
        verdict, conclusive, n, margins[load] = step(load, gaps, cap, effective)
        used += n
        loads.append(load)
        conclusive = conclusive or not effective
        if verdict == "pass":
            lo = max(lo or 0, load)
            sure_lo = max(sure_lo or 0, load) if conclusive else sure_lo
        else:
            hi = min(hi or 1e9, load)
            sure_hi = min(sure_hi or 1e9, load) if conclusive else sure_hi
        if lo and hi and (not conclusive or (hi - lo) / lo <= 0.1):
            bisected = True
        if hi is None:
            load = min(r3(lo * 2), 200)
        elif lo is None:
            load = max(r3(hi / 2), 2)
        elif not bisected and lo < r3((lo + hi) / 2) < hi:
            load = r3((lo + hi) / 2)
        elif sure_hi is None and max(loads) < 200:
            load = min(r3(max(loads) * 2), 200)
        elif sure_lo is None and min(loads) > 2:
            load = max(r3(min(loads) / 2), 2)
        else:
            load = None
    point = None
    if lo and hi:
        # Where the p90's margin crosses zero between the two (src/capacity/report.rs, interpolate).
        a, b = margins[lo], margins[hi]
        point = lo + (hi - lo) * a / (a - b) if a >= 0 > b else (lo + hi) / 2
    return sure_lo, sure_hi, point, used


def steady_capacity():
    """The rate whose p90 over 3 × 2,000 Poisson arrivals is the target (the test's model value)."""
    def p90(rate):
        out = []
        for seed in range(3):
            rng, t, arrivals = random.Random(10 + seed), 0.0, []
            for _ in range(2000):
                t += rng.expovariate(rate) * 1000
                arrivals.append(t)
            out.append(sorted(ttfts(arrivals))[math.ceil(0.9 * 2000) - 1])
        return sum(out) / 3
    a, b = 5.0, 40.0
    for _ in range(16):
        a, b = ((a + b) / 2, b) if p90((a + b) / 2) <= TARGET else (a, (a + b) / 2)
    return a


def finish_times(arrivals):
    """Finish times (ms) in the TPOT setting (32 slots, f = 2, d = 4, r = 1 ms)."""
    return engine(arrivals, slots=32, f=2.0, d=4.0, r=1.0)[1]


def over_saturated(watch, rate):
    """The stop rule of src/capacity/step.rs on (seconds, in flight) at each due time."""
    n = len(watch)
    mx, my = sum(w[0] for w in watch) / n, sum(w[1] for w in watch) / n
    sxx = sum((w[0] - mx) ** 2 for w in watch)
    growth = sum((w[0] - mx) * (w[1] - my) for w in watch) / sxx if sxx else 0.0
    half = n // 2
    first = sum(w[1] for w in watch[:half]) / half
    second = sum(w[1] for w in watch[half:]) / (n - half)
    return growth > 0.15 * rate and second >= 1.5 * max(first, 1.0) and second >= first + 10


def saturation(seeds):
    """How often the over-saturation stop fires within 300 requests, by rate, in the TPOT setting (32 slots,
    f = 2, d = 4, r = 1 ms; it saturates at about 44 req/s)."""
    print(f"over-saturation stop in the TPOT setting (saturates near 44 req/s), {seeds} seeds, 300 requests:")
    for rate in (30, 34, 38, 44, 50, 64):
        fired = 0
        for seed in range(seeds):
            rng, t, arrivals = random.Random(seed), 0.0, []
            for _ in range(300):
                t += rng.expovariate(rate) * 1000
                arrivals.append(t)
            fin = finish_times(arrivals)
            watch = []
            for k in range(WARM, 300):
                watch.append((arrivals[k] / 1000, sum(1 for i in range(k) if fin[i] > arrivals[k])))
                if len(watch) >= 30 and len(watch) % 5 == 0 and over_saturated(watch, rate):
                    fired += 1
                    break
        print(f"  {rate} req/s: fired in {fired / seeds:.0%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=80)
    ap.add_argument("--cap", type=int, default=120, help="judged requests a step may use (default 120)")
    ap.add_argument("--confidence", type=float, default=0.95, choices=(0.95, 0.99))
    ap.add_argument("--saturation", action="store_true", help="measure the over-saturation stop instead")
    args = ap.parse_args()
    global Z, ALPHA
    Z = {0.95: 1.959963984540054, 0.99: 2.5758293035489004}[args.confidence]
    ALPHA = round(1 - args.confidence, 2)
    if args.saturation:
        saturation(min(args.seeds, 50))
        return
    model = steady_capacity()
    print(f"engine: {SLOTS} slots, f = {F} ms, d = {D} ms, {OUT} tokens; SLO ttft_p90 <= {TARGET:.0f} ms, "
          f"goodput >= {GOODPUT}; steady-state capacity {model:.1f} req/s")
    for effective in (False, True):
        name = "effective n / tau" if effective else "plain n (earlier)"
        print(f"\n{name}, steps of at most {args.cap} judged requests, {args.seeds} seeds:")
        for rate in (20, 24, 28, 32):
            res = []  # (verdict, conclusive, requests, margin)
            for seed in range(args.seeds):
                rng = random.Random(1000 + seed)
                res.append(step(rate, [rng.expovariate(1) for _ in range(args.cap + WARM)], args.cap, effective))
            sure_pass = sum(v == "pass" and c for v, c, *_ in res) / len(res)
            sure_fail = sum(v == "fail" and c for v, c, *_ in res) / len(res)
            print(f"  step at {rate} req/s: conclusive pass {sure_pass:4.0%}, conclusive fail {sure_fail:4.0%}")
        held, within, within15, used, widths = 0, 0, 0, [], []
        for seed in range(args.seeds):
            a, b, point, n = search(seed, args.cap, effective)
            held += (a or 0) <= model <= (b or math.inf)
            within += point is not None and abs(point - model) <= 0.1 * model
            within15 += point is not None and abs(point - model) <= 0.15 * model
            used.append(n)
            widths.append((b or math.inf) / (a or 1e-9))
        used.sort()
        widths.sort()
        print(f"  search: interval holds the capacity in {held / args.seeds:.0%}, point within 10 % in "
              f"{within / args.seeds:.0%} (15 %: {within15 / args.seeds:.0%}), requests median {used[len(used) // 2]}, interval high/low median "
              f"{widths[len(widths) // 2]:.2f}")


if __name__ == "__main__":
    main()
