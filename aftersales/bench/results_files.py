"""Benchmark results as files: bench/results/<date>-<name>.json and a markdown table beside it."""

from __future__ import annotations

import json
from pathlib import Path

from aftersales.bench.harness import growth_target, targets


def _mib(value) -> str:
    return "n/a" if value is None else f"{value:,.0f} MiB"


def _s(value) -> str:
    return "n/a" if value is None else f"{value:,.1f} s"


def _x(value) -> str:
    return "n/a" if value is None else f"{value:,.2f}x"


def summary_rows(f: dict) -> list[tuple[str, str]]:
    """(figure, value) rows of one scale."""
    b, m, fl, bl = f["batch"], f["memory"], f["floor"], f["baseline"]
    transcoded = ", ".join(f"{n} {k}" for k, n in sorted(fl["transcoded"].items())) or "none"
    sample = (
        f"seeded random sample of {bl['cases_timed']:,}, extrapolated linearly"
        if bl["sampled"]
        else f"all {bl['cases_timed']:,} cases"
    )
    return [
        ("end to end", _s(b["seconds"])),
        ("Prefect server start-up (excluded)", _s(b["server_start_seconds"])),
        ("flow overhead (end to end - sum of stages)", _s(b["flow_overhead_seconds"])),
        ("input rows read", f"{b['rows_read']:,}"),
        ("input rows / s (end to end)", f"{b['rows_per_second']:,}"),
        ("CPU seconds (batch + server) / utilisation of wall time", f"{b['cpu_seconds']:,.0f} / {b['cpu_utilisation']:.2f}"),
        ("peak RSS, process tree (batch + Prefect server), sampled", _mib(m["tree_peak_mib"])),
        ("peak RSS, batch process: sampled / ru_maxrss", f"{_mib(m['self_peak_mib'])} / {_mib(m['self_maxrss_mib'])}"),
        ("warehouse size after the batch", _mib(f["warehouse"]["mib"])),
        ("floor: DuckDB count(*) of every file", f"{_s(fl['seconds'])} ({fl['files']:,} files, {fl['rows']:,} rows; transcoded: {transcoded}, {fl['transcode_seconds']:.2f} s)"),
        ("pipeline / floor", _x(f["floor_ratio"])),
        ("scoring stage (in the batch)", _s(next((s["seconds"] for s in b["stages"] if s["stage"] == "score"), None))),
        ("per-case baseline: read record + evaluate + decide", f"{bl['per_case_ms']:.3f} ms/case x {bl['cases_total']:,} cases = {_s(bl['extrapolated_seconds'])} ({sample})"),
        ("  of which evaluate + decide only", f"{bl['judge_per_case_ms']:.3f} ms/case = {_s(bl['extrapolated_judge_seconds'])}"),
        ("  rule versions in force per case (mean)", f"{bl['rules_evaluated'] / max(bl['cases_timed'], 1):.1f}"),
        ("engine on the same stored cases: restore + evaluate + evidence + decide", f"{_s(f['engine_judge']['seconds'])} (restore {f['engine_judge']['restore_seconds']:.1f} s)"),
        ("per-case baseline / scoring stage", _x(f["baseline_ratio"])),
        ("per-case baseline (evaluate + decide only) / scoring stage", _x(f["baseline_judge_ratio"])),
        ("per-case baseline / engine on the same stored cases (like for like)", _x(f["baseline_ratio_like_for_like"])),
        ("load average (1, 5, 15 min) at start / end", f"{_load(f['loadavg_start'])} / {_load(f['loadavg_end'])}"),
        *calibrate_rows(f.get("calibrate")),
    ]  # fmt: skip


def calibrate_rows(c: dict | None) -> list[tuple[str, str]]:
    """The `calibrate` figure (issue #16): N stored batch dates copied from the batch, calibrated."""
    if not c:
        return []
    w = c["warehouse"]
    return [
        (f"calibrate: {w['dates']} stored batch dates, {w['rows']['case_features']:,} stored case rows "
         f"({c['date_from']} .. {c['date_to']})",
         f"{_s(c['seconds'])}, peak RSS {_mib(c['memory']['self_maxrss_mib'])} (ru_maxrss; sampled "
         f"{_mib(c['memory']['self_peak_mib'])})"),
        ("  decided / calibrated cases; stored warehouse built in",
         f"{c['decided_cases']:,} / {c['calibrated_cases']:,}; {_s(w['build_seconds'])} ({_mib(w['mib'])})"),
    ]  # fmt: skip


def _load(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def stage_table(f: dict) -> list[str]:
    lines = [
        "| stage | seconds | share | rows | rows are | rows / s | peak RSS, tree |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for s in f["batch"]["stages"]:
        rows = f"{s['rows']:,}" if s["rows"] is not None else ""
        rps = f"{s['rows_per_second']:,}" if s["rows_per_second"] else ""
        peak = _mib(s.get("peak_tree_mib")) if s.get("peak_tree_mib") else ""
        lines.append(
            f"| {s['stage']} | {s['seconds']:.2f} | {s['share']:.1%} | {rows} | {s['rows_are']} | {rps} | {peak} |"
        )
    return lines


def target_table(rows: list[dict]) -> list[str]:
    lines = ["| target | measured | limit | met |", "|---|---:|---:|---|"]
    for t in rows:
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {t['measured']} | {t['limit']} | {met} |")
    return lines


def scale_markdown(f: dict) -> str:
    inbox = f["inbox"]
    host = f["host"]
    rows = ", ".join(f"{k} {v:,}" for k, v in inbox["rows"].items())
    lines = [
        f"# aftersales scale benchmark: {f['scale']} ({f['date']})",
        "",
        f"Measured: {f['timing_note']}. Host: {host['cpus']} CPUs, {host['memory_gib']} GiB, Python "
        f"{host['python']}, DuckDB {host['duckdb']}, Prefect {host['prefect']}, commit {host['commit']}, "
        f"sources {host.get('source_sha256', '?')}.",
        "",
        f"Inbox: {inbox['files']:,} files, {inbox['bytes'] / 2**20:,.0f} MiB; {rows} "
        f"({inbox['spec']['shops']} shops, seed {inbox['spec']['seed']}, batch date {inbox['spec']['batch_date']}).",
        "",
        "| figure | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in summary_rows(f)],
        "",
        "## Stages",
        "",
        *stage_table(f),
        "",
        "## Targets",
        "",
        *target_table(targets(f)),
        "",
    ]
    return "\n".join(lines)


def combined_markdown(results: dict[str, dict]) -> str:
    """Small and default side by side, with the growth ratio."""
    names = list(results)
    rows_by_scale = {n: dict(summary_rows(f)) for n, f in results.items()}
    keys = list(rows_by_scale[names[0]])
    lines = [
        f"# aftersales scale benchmark: {', '.join(names)} ({results[names[0]]['date']})",
        "",
        f"Measured: {results[names[0]]['timing_note']}.",
        "",
        "| figure | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        *[f"| {k} | " + " | ".join(rows_by_scale[n].get(k, "") for n in names) + " |" for k in keys],
        "",
    ]
    for n, f in results.items():
        lines += [f"## Stages, {n}", "", *stage_table(f), ""]
    target_rows = [t | {"target": f"{t['target']} ({n})"} for n, f in results.items() for t in targets(f)]
    if "small" in results and "default" in results:
        target_rows.append(growth_target(results["small"], results["default"]))
    lines += ["## Targets", "", *target_table(target_rows), ""]
    return "\n".join(lines)


def write_results(out_dir: Path, name: str, figures: dict, markdown: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{figures.get('date') or next(iter(figures.values()))['date']}-{name}"
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown, encoding="utf-8")
    return json_path, md_path
