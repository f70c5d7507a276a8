#!/usr/bin/env python3
"""The guided strategy's arm shares from measured rates (docs/scheduling.md).

Reads the JSON lines of `cargo run --release --example arm_rates` and solves the linear
program: shares w >= 0 summing to 1 (the mutation's at least --mutation), and the largest t,
such that for every failing variant v, with R(v) = sum over arms of w_a * rate_a(v),

    R(v) >= ln 2 / MEDIAN            (a median of at most MEDIAN executions), and
    R(v) >= t * rate_portfolio(v)    (t of portfolio's rate, at least).

Prints the shares, t, and the variants the mixture is slowest on, with the medians the model
predicts (ln 2 / R). Needs SciPy (`pip install scipy`).

usage: scripts/priors.py RATES.json [--median 45] [--mutation 0.05]
"""
import argparse
import json
import math
import sys

try:
    from scipy.optimize import linprog
except ImportError:
    sys.exit("priors.py: needs SciPy (pip install scipy)")

ARMS = ["pct", "uniform", "pos", "mutation", "reversal"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rates")
    ap.add_argument("--median", type=float, default=45.0)
    ap.add_argument("--mutation", type=float, default=0.05)
    args = ap.parse_args()

    rates = {}
    try:
        with open(args.rates) as f:
            for n, line in enumerate(f, 1):
                r = json.loads(line)
                cell = (r["harness"], r["variant"], r["memory"])
                rates.setdefault(cell, {})[r["strategy"]] = r["rate"]
    except (OSError, ValueError, KeyError) as e:
        print(f"priors.py: cannot read {args.rates}: {e}", file=sys.stderr)
        sys.exit(2)
    cells = [c for c, r in rates.items() if all(s in r for s in ARMS + ["portfolio"])]
    if not cells:
        print(f"priors.py: no complete cell in {args.rates}", file=sys.stderr)
        sys.exit(2)

    n = len(ARMS)
    # Variables: the n shares, then t; linprog minimizes, so the objective is -t.
    c = [0.0] * n + [-1.0]
    a_ub, b_ub = [], []
    for cell in cells:
        r = [rates[cell][a] for a in ARMS]
        a_ub.append([-x for x in r] + [0.0])
        b_ub.append(-math.log(2) / args.median)
        a_ub.append([-x for x in r] + [rates[cell]["portfolio"]])
        b_ub.append(0.0)
    bounds = [(0.0, 1.0)] * n + [(0.0, None)]
    bounds[ARMS.index("mutation")] = (args.mutation, 1.0)
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=[[1.0] * n + [0.0]], b_eq=[1.0], bounds=bounds)
    if not res.success:
        print(f"no mixture finds every variant within a median of {args.median:g}: {res.message}")
        sys.exit(1)
    w, t = res.x[:n], res.x[n]
    print("shares: " + ", ".join(f"{a} {x:.3f}" for a, x in zip(ARMS, w)))
    print(f"t = {t:.3f} (the mixture's rate over portfolio's, on the variant where it is lowest)")
    rate = {cell: sum(x * rates[cell][a] for a, x in zip(ARMS, w)) for cell in cells}
    print("slowest variants by the model (predicted median, portfolio's):")
    for cell in sorted(cells, key=lambda c: rate[c])[:8]:
        p = rates[cell]["portfolio"]
        pm = f"{math.log(2) / p:.0f}" if p > 0 else "-"
        print(f"  {' '.join(cell):<50} {math.log(2) / rate[cell]:5.0f}  {pm:>5}")
    print("furthest behind portfolio by the model (ratio of rates):")
    behind = [c for c in cells if rates[c]["portfolio"] > 0]
    for cell in sorted(behind, key=lambda c: rate[c] / rates[c]["portfolio"])[:5]:
        print(f"  {' '.join(cell):<50} {rate[cell] / rates[cell]['portfolio']:.2f}")


if __name__ == "__main__":
    main()
