"""Render a 10,000-case report; print its size, render time and time to first paint in Chromium.

The case data is embedded gzip-compressed above `COMPRESS_ABOVE` bytes of JSON; the size
lines show the JSON before and the embedded block after.

Run: `/work/venv/bin/python benchmarks/report_bench.py [N_CASES] [--out PATH]`.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from pytest_llmgate.gate.records import (
    Baseline,
    BaselineCase,
    CaseChange,
    CaseResult,
    GateResult,
    JudgeCall,
    JudgeVerdict,
    MetricSpec,
    MetricVerdict,
    RubricStats,
    RunResults,
    SuiteResult,
    SuiteVerdict,
)
from pytest_llmgate.report.html import (
    build_case_data,
    embed_case_data,
    embed_json,
    render_html,
)

# Same flags as tests/conftest.py.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WORDS = [
    "refund",
    "order",
    "policy",
    "days",
    "payment",
    "account",
    "shipping",
    "invoice",
    "support",
    "customer",
    "within",
    "business",
    "request",
]


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def build_results(n_cases: int, seed: int = 1) -> RunResults:
    """A run of `n_cases` cases over 4 suites: ~60-word outputs, a pairwise judge, retrieval ranks."""
    rng = random.Random(seed)
    suites, baselines, verdicts = {}, {}, []
    specs = {
        "checks_passed": MetricSpec(name="checks_passed", kind="binary"),
        "recall@5": MetricSpec(name="recall@5"),
        "judge:correctness": MetricSpec(name="judge:correctness"),
    }
    per_suite = n_cases // 4
    for s in range(4):
        suite_id = f"evals/test_suite_{s}.py::test_answer"
        cases, base, changes = {}, {}, []
        for i in range(per_suite if s < 3 else n_cases - 3 * per_suite):
            case_id = f"case-{s}-{i:05d}"
            old = _text(rng, 60)
            new = old if rng.random() < 0.8 else _text(rng, 60)
            passed = rng.random() > 0.05
            value = rng.choice([0.0, 0.5, 1.0])
            reason = _text(rng, 25)
            cases[case_id] = CaseResult(
                case_id=case_id,
                nodeid=f"{suite_id}[{case_id}]",
                case={"id": case_id, "input": _text(rng, 20), "reference": old},
                output=new,
                passed=passed,
                failure=None if passed else "AssertionError: expected the refund window",
                metrics={
                    "checks_passed": float(passed),
                    "recall@5": rng.choice([0.0, 0.5, 1.0]),
                    "judge:correctness": value,
                },
                details={
                    "retrieval": {
                        "ranks": {"doc-1": rng.choice([1, 2, None])},
                        "retrieved": ["doc-1", "doc-2", "doc-3"],
                    }
                },
                judge=[
                    JudgeVerdict(
                        rubric="correctness",
                        rubric_version="1",
                        kind="pairwise",
                        against="baseline",
                        metric="judge:correctness",
                        value=value,
                        label={0.0: "loss", 0.5: "tie", 1.0: "win"}[value],
                        consistent=value != 0.5,
                        provider="offline:overlap",
                        calls=[
                            JudgeCall(
                                order="forward",
                                preference="A",
                                reason=reason,
                                attempts=1,
                                input_tokens=400,
                                output_tokens=60,
                            ),
                            JudgeCall(order="swapped", preference="B", reason=reason, cached=True),
                        ],
                    )
                ],
            )
            base[case_id] = BaselineCase(
                passed=True, metrics={"checks_passed": 1.0, "recall@5": 1.0, "judge:correctness": 0.5}, output=old
            )
            if not passed:
                changes.append(
                    CaseChange(suite=suite_id, case_id=case_id, nodeid=f"{suite_id}[{case_id}]", kind="newly_failing")
                )
        suites[suite_id] = SuiteResult(suite=suite_id, dataset=f"datasets/suite_{s}.jsonl", metrics=specs, cases=cases)
        baselines[suite_id] = Baseline(suite=suite_id, dataset=f"datasets/suite_{s}.jsonl", metrics=specs, cases=base)
        verdicts.append(
            SuiteVerdict(
                suite=suite_id,
                baseline_path=f"baselines/suite_{s}.json",
                metrics=[
                    MetricVerdict(
                        suite=suite_id,
                        metric=m,
                        kind=spec.kind,
                        higher_is_better=True,
                        n_paired=len(cases),
                        baseline_mean=0.9,
                        current_mean=0.85,
                        diff=-0.05,
                        ci_low=-0.06,
                        ci_high=-0.04,
                        p_value=0.001,
                        p_adjusted=0.003,
                        test="wilcoxon",
                        tolerance=0.02,
                        alpha=0.05,
                        mde=0.01,
                        status="fail",
                        reason="Mean dropped by 0.050.",
                    )
                    for m, spec in specs.items()
                ],
                cases=changes,
            )
        )
    return RunResults(
        plugin_version="0.1.0",
        created_at="2025-05-01T12:00:00Z",
        duration=600.0,
        git_commit="0123abcd",
        git_dirty=False,
        judge_provider="offline:overlap",
        suites=suites,
        baselines=baselines,
        verdicts=verdicts,
        judge_stats={
            "correctness": RubricStats(
                rubric="correctness",
                verdicts=n_cases,
                calls=n_cases,
                swapped_pairs=n_cases,
                consistent_pairs=n_cases * 2 // 3,
            )
        },
        gate=GateResult(status="FAIL", passed=False, reasons=["judge:correctness dropped."]),
    )


def measure_browser(path: Path, runs: int) -> list[dict[str, float]]:
    """Open the report `runs` times in headless Chromium; paint and table-ready times in ms."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("The benchmark needs Debian's chromium: apt-get install -y chromium")
    figures = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            timings = page.evaluate(
                """() => ({
                    fp: (performance.getEntriesByName('first-paint')[0] || {}).startTime ?? null,
                    fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime ?? null,
                    table: window.__llmgateReady,
                    load: performance.getEntriesByType('navigation')[0].loadEventEnd,
                })"""
            )
            start = time.perf_counter()
            page.select_option("#f-status", "newly_failing")
            page.fill("#f-search", "case-2")
            page.wait_for_timeout(200)  # the search is debounced by 120 ms
            timings["filter+search"] = (time.perf_counter() - start) * 1000 - 200
            start = time.perf_counter()
            page.locator("#cases-body tr").first.click()
            page.wait_for_selector("#detail [data-role='output-now']")
            timings["detail"] = (time.perf_counter() - start) * 1000
            figures.append(timings)
            page.close()
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_cases", nargs="?", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None, help="Where to keep the report. Default: a temp folder.")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    results = build_results(args.n_cases)
    folder = Path(tempfile.mkdtemp(prefix="llmgate-bench-"))
    path = args.out or folder / "report.html"
    render_times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        render_html(results, path)
        render_times.append(time.perf_counter() - start)
    size = path.stat().st_size
    print(f"cases: {args.n_cases}")
    print(f"file size: {size / 1e6:.2f} MB ({size} bytes)")
    data = build_case_data(results)
    embedded, encoding = embed_case_data(data)
    print(
        f"case data: {len(str(embed_json(data))) / 1e6:.2f} MB of JSON, embedded as {encoding or 'plain JSON'}: {len(embedded) / 1e6:.2f} MB"
    )
    print(f"render time (median of {args.runs}): {statistics.median(render_times):.2f} s")
    figures = measure_browser(path, args.runs)
    for key in ("fp", "fcp", "table", "load", "filter+search", "detail"):
        values = [f[key] for f in figures if f.get(key) is not None]
        if values:
            print(f"chromium {key} (median of {len(values)}): {statistics.median(values):.0f} ms")
    if args.out is None:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
