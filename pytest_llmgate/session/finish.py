"""The finish pipeline: assemble the results, let `gate.verdict.evaluate` decide, then the writers."""

from __future__ import annotations

import datetime as _dt
import subprocess
import time
from pathlib import Path

from pytest_llmgate.gate.accepted import record_run_context
from pytest_llmgate.gate.baseline import (
    build_baseline,
    plugin_version,
    write_baseline,
)
from pytest_llmgate.gate.records import (
    Baseline,
    GateResult,
    RunFacts,
    RunResults,
)
from pytest_llmgate.gate.repeats import prepare_suite
from pytest_llmgate.gate.verdict import evaluate
from pytest_llmgate.report.links import relative_link
from pytest_llmgate.session.judging import JudgingJob


def _git_state(root: Path) -> tuple[str | None, bool | None]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


class FinishJob(JudgingJob):
    """The finish pipeline: assemble the results, let `gate.verdict.evaluate` decide, then the writers."""

    def finish(self) -> RunResults:
        """Compare with baselines, decide, write results/reports, and (update mode) baselines."""
        try:
            return self._finish()
        finally:
            self.spill.close()
            if self.spill.failed:
                self.warnings.append(self.spill.failed)

    def facts(self) -> RunFacts:
        """What this run found outside its metrics, for the verdict to weigh."""
        return RunFacts(
            replay_missing=sorted(self.judge_missing),
            budget_tokens_exhausted=self.budget_exhausted,
            budget_usd_exhausted=self.budget_usd_exhausted,
            unjudged_by_deadline=self.unjudged_by_deadline,
            errored=dict(sorted(self.errored.items())),
            baseline_errors={
                name: error for name, error in sorted(self.baseline_errors.items()) if name in self.suites
            },
        )

    def _finish(self) -> RunResults:
        """Assemble the results, let `evaluate` decide, then write what the verdict allows."""
        settings = self.settings
        for suite in self.suites.values():
            suite.cases = dict(sorted(suite.cases.items()))
            prepare_suite(suite)
            suite.metrics = dict(sorted(suite.metrics.items()))
        baselines = {name: self.baseline(name) for name in sorted(self.suites)}
        self._url_fingerprint_notes(baselines)
        rejudged = self._apply_rejudged(baselines)
        if settings.rejudge_baseline and not rejudged:
            self.warnings.append(
                "--llm-gate-rejudge-baseline: every baseline was judged by this run's judge and rubrics; "
                "nothing was re-judged."
            )
        commit, dirty = _git_state(settings.rootdir)
        results = RunResults(
            plugin_version=plugin_version(),
            created_at=_dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
            duration=round(time.time() - self.started, 3),
            git_commit=commit,
            git_dirty=dirty,
            judge_provider=next(
                (s.fingerprints["judge"] for s in self.suites.values() if "judge" in s.fingerprints), None
            ),
            settings=settings.public(),
            suites=dict(sorted(self.suites.items())),
            baselines=baselines,
            verdicts=[],
            judge_stats=dict(sorted(self.judge_stats.items())),
            gate=GateResult(status="PASS", passed=True),
            judge_price=self.judge_price,
            rejudged=rejudged,
            facts=self.facts(),
        )
        self._jury_and_warnings(results)
        self._calibrate(results)
        paths = {name: self._relative(self.baseline_file(name)) for name in self.suites}
        # Baselines as code: the gate settings, the set's case ids and the accepted history from git.
        self.warnings += record_run_context(results, self.dataset_ids, settings.rootdir, settings.baseline_dir)
        results = evaluate(results, baseline_paths=paths)
        self.results = results
        if settings.update and not settings.shard and results.gate.passed:
            self._write_baselines(results.baselines)
        if settings.update and not results.gate.passed:
            return results  # the refusal says why; nothing is written
        self._write_outputs(results, only_results=bool(settings.shard))
        return results

    def _calibrate(self, results: RunResults) -> None:
        """Agreement of the judge with human labels, when labels exist, into the results (the
        verdict weighs it against `min_agreement`)."""
        if not results.judge_stats and not self.settings.min_agreement:
            return
        labels_dir = self.settings.labels_dir
        if not self.settings.min_agreement and not (labels_dir.is_dir() and any(labels_dir.glob("*.jsonl"))):
            return  # no labels, no threshold: nothing to calibrate, and scipy.stats stays unimported
        from pytest_llmgate.calibration.integration import calibrate_run

        calibration, labels, error = calibrate_run(results, self.settings)
        results.calibration.update(calibration)
        results.labels = labels
        results.facts.label_error = error

    def _write_baselines(self, compared: dict[str, Baseline | None]) -> list[Path]:
        """Write every suite's baseline; deselected cases are kept from the baseline compared with
        (re-judged, when it was: so no value of the old judge survives under the new fingerprint)."""
        written = []
        for name, result in sorted(self.suites.items()):
            if not result.cases:
                continue  # every case deselected: the committed file stays as it is
            path = self.baseline_file(name)
            previous = None if name in self.baseline_errors else compared.get(name, self._baselines.get(name))
            whole = self.spill.whole_suite(name, result)
            baseline = build_baseline(whole, previous, set(self.dataset_ids.get(name, [])))
            write_baseline(path, baseline)
            written.append(path)
        self.written += written
        return written

    def _write_outputs(self, results: RunResults, *, only_results: bool = False) -> None:
        from pytest_llmgate._files import atomic_write_chunks, atomic_write_text
        from pytest_llmgate.gate.records import results_json_chunks

        settings = self.settings
        atomic_write_chunks(settings.results_path, results_json_chunks(results, restore=self.spill.restore))
        self.written.append(settings.results_path)
        if only_results:
            return
        if settings.save_outputs_path is not None:
            from pytest_llmgate.sut import outputs_lines

            atomic_write_text(settings.save_outputs_path, outputs_lines(self.spill.whole(results.suites)))
            self.written.append(settings.save_outputs_path)
        try:
            from pytest_llmgate.report.html import render_html
            from pytest_llmgate.report.markdown import append_github_step_summary, render_markdown
        except ImportError as exc:  # the report package is optional while it is being built
            self.warnings.append(f"report not written: {exc}")
            return
        render_html(results, settings.html_path, restore=self.spill.restore)
        self.written.append(settings.html_path)
        markdown = render_markdown(results, report_path=relative_link(settings.html_path, settings.markdown_path))
        atomic_write_text(settings.markdown_path, markdown)
        self.written.append(settings.markdown_path)
        append_github_step_summary(markdown)

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.settings.rootdir).as_posix()
        except ValueError:
            return path.as_posix()
