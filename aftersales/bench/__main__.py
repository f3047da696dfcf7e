"""`python -m aftersales.bench --scale small|default|all` (what `make bench SCALE=...` runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aftersales.bench.harness import CALIBRATE_DATES, BatchFailed, growth_target, run_scale
from aftersales.bench.results_files import combined_markdown, scale_markdown, write_results
from aftersales.bench.scales import SCALES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aftersales.bench",
        description="Scale benchmark of the nightly batch: floor, measured flow, per-case baseline.",
    )
    parser.add_argument("--scale", default="small", choices=[*sorted(SCALES), "all"],
                        help="'all' runs small then default and reports the growth ratio")  # fmt: skip
    parser.add_argument("--mode", default="flow", choices=("flow", "plain"),
                        help="flow: the real Prefect flow (default); plain: the stage functions")  # fmt: skip
    parser.add_argument("--root", type=Path, default=Path("bench"),
                        help="bench folder: inbox cache, work folder, results/")  # fmt: skip
    parser.add_argument("--baseline-sample", type=int, default=20_000,
                        help="cases timed by the per-case baseline (0: all cases)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="seed of the baseline's case sample")
    parser.add_argument("--keep-work", action="store_true", help="keep the warehouse and Prefect home")
    parser.add_argument("--calibrate-dates", type=int, default=CALIBRATE_DATES,
                        help="stored batch dates of the calibrate figure (issue #16: 90; 0 skips it)")  # fmt: skip
    args = parser.parse_args(argv)

    scales = ["small", "default"] if args.scale == "all" else [args.scale]
    sample = args.baseline_sample or None
    results: dict[str, dict] = {}
    try:
        for scale in scales:
            figures = run_scale(
                scale, args.root, mode=args.mode, baseline_sample=sample, seed=args.seed,
                keep_work=args.keep_work, calibrate_dates=args.calibrate_dates,
                log=lambda m: print(m, flush=True),
            )  # fmt: skip
            results[scale] = figures
            json_path, md_path = write_results(args.root / "results", scale, figures, scale_markdown(figures))
            print(f"[{scale}] wrote {json_path} and {md_path}", flush=True)
    except BatchFailed as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    if len(results) > 1:
        combined = {"date": results[scales[0]]["date"], "scales": results}
        if "small" in results and "default" in results:
            combined["growth"] = growth_target(results["small"], results["default"])
            print(f"growth time(default)/time(small) = {combined['growth']['measured']}", flush=True)
        json_path, md_path = write_results(
            args.root / "results", args.scale, combined, combined_markdown(results)
        )
        print(f"wrote {json_path} and {md_path}", flush=True)
    else:
        print(scale_markdown(results[scales[0]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
