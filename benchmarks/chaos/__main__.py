"""`make chaos [N=1000]`: uploads under faults, then every invariant checked; figures printed and
kept in .local/bench/report.md (+ .json). Exits 1 when an invariant broke.

Usage: python -m benchmarks.chaos [--uploads N] [--seed S] [--stack NAME] [--restart]
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.chaos.restart import restart_and_recover
from benchmarks.chaos.run import ChaosResult, ChaosRun, ChaosSettings
from benchmarks.report import BenchmarkReport
from stackctl import stack

CHAOS_STACK = "sheetflow-chaos"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--uploads", type=int, default=1000, help="uploads in the run (N)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the plan and the faults")
    parser.add_argument("--stack", default=CHAOS_STACK, help="stack to deploy and run against")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of failed AWS calls")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="afterwards, restart LocalStack once and measure what survives (nothing: see docs)",
    )
    return parser.parse_args(argv)


def print_figures(result: ChaosResult) -> None:
    print("\nfigures")
    for name, value in result.figures.items():
        print(f"  {name:42} {value}")
    print(f"  {'run_seconds':42} {result.seconds:.0f}")


def record(result: ChaosResult, uploads: int) -> None:
    report = BenchmarkReport("chaos")
    for name, value in result.figures.items():
        if isinstance(value, int | float):
            unit = "s" if name.endswith("seconds_to_terminal") else "count"
            report.record(name, value, unit, f"N={uploads}")
    report.record("run_seconds", round(result.seconds, 1), "s", f"N={uploads}")
    report.record("invariants_broken", len(result.violations), "count", f"N={uploads}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"deploying {args.stack!r} (a no-op when it is up to date) ...", flush=True)
    outputs = stack.deploy(name=args.stack)
    settings = ChaosSettings(
        stack_name=args.stack, uploads=args.uploads, seed=args.seed, fault_rate=args.fault_rate
    )
    result = ChaosRun(outputs, settings, say=lambda line: print(line, flush=True)).run()
    print_figures(result)
    record(result, args.uploads)
    if args.restart:
        for name, value in restart_and_recover(args.stack).items():
            print(f"  {name:42} {value}")
    if result.violations:
        print(f"\n{len(result.violations)} invariant(s) broken:", file=sys.stderr)
        for violation in result.violations[:50]:
            print(f"  {violation}", file=sys.stderr)
        return 1
    print("\nevery invariant held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
