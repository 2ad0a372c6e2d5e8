"""The judge desk: rubrics and engines loaded once, submission, juries, cancel, collect, re-judging baselines."""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future
from typing import Any

from pytest_llmgate._redact import without_credentials
from pytest_llmgate.gate.records import (
    Against,
    Baseline,
    CaseResult,
    JudgeVerdict,
    MetricKind,
    MetricSpec,
    RepeatResult,
    RunResults,
    merge_rubric_stats,
)
from pytest_llmgate.gate.repeats import aggregate_case
from pytest_llmgate.outputs import content_hash, output_text
from pytest_llmgate.session.outputs import OutputsJob
from pytest_llmgate.session.state import INTERRUPTED_LINE


class JudgingJob(OutputsJob):
    """The judge desk: rubrics and engines loaded once, submission, juries, cancel, collect, re-judging baselines."""

    def pricer(self, spec: str) -> Any:
        """A judge's pricer (`pytest_llmgate.judge.pricing`), from its spec and the ini price."""
        from pytest_llmgate.judge.pricing import parse_price, pricer_for
        from pytest_llmgate.judge.spec import parse_spec

        kind, model, _ = parse_spec(spec)
        override = parse_price(self.settings.judge_price) if self.settings.judge_price else None
        return pricer_for(kind, model, override)

    def budget_problem(self) -> str | None:
        """Why `--llm-gate-budget-usd` cannot be kept with this judge (its price is unknown)."""
        if self.settings.budget_usd is None:
            return None
        for spec in self.settings.judges or (self.settings.judge,):
            pricer = self.pricer(spec)
            if not (pricer.known or pricer.free):
                return (
                    f"'--llm-gate-budget-usd' needs the judge's price, and {without_credentials(spec)} has none: "
                    f"{pricer.source}. Set llm_gate_judge_price or use --llm-gate-budget-tokens."
                )
        return None

    def engine(self) -> Any:
        """The (first) judge engine, started on first use (so a run without judges imports no SDK)."""
        return self.engines()[0]

    def engines(self) -> list[Any]:
        """One judge engine per judge of the jury (one without a jury), started on first use."""
        if not self._engines:
            import pytest

            from pytest_llmgate.judge.engine import JudgeEngine, Spending
            from pytest_llmgate.judge.rubrics import RubricError, load_pack, load_rubrics
            from pytest_llmgate.judge.spec import JudgeConfigError

            engines = []
            spending = Spending()  # the budgets cover every judge of a jury together
            try:
                self.rubrics = {**load_pack(), **load_rubrics(self.settings.rubrics_dir)}
                for spec in self.settings.judges or (self.settings.judge,):
                    engines.append(
                        JudgeEngine(
                            provider=spec,
                            rubrics=self.rubrics,
                            cache_dir=self.settings.cache_dir,
                            concurrency=self.settings.concurrency,
                            budget_tokens=self.settings.budget_tokens,
                            replay_only=self.settings.replay,
                            timeout=self.settings.judge_timeout,
                            max_retries=self.settings.judge_retries,
                            deadline=self._deadline_left(),
                            batch=self._batch_options(),
                            pricer=self.pricer(spec),
                            budget_usd=self.settings.budget_usd,
                            spending=spending,
                        )
                    )
                self.judge_price = "; ".join(dict.fromkeys(engine.pricer.source for engine in engines))
            except (JudgeConfigError, RubricError) as exc:
                for engine in engines:
                    engine.close()
                # Every later judge call would fail the same way: stop with the one remedy.
                pytest.exit(f"LLM gate judge: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            for engine in engines:
                engine.start()
            self._engines = engines
        return self._engines

    def _batch_options(self) -> Any:
        if not self.settings.batch or self.settings.cache_dir is None:
            return None
        from pytest_llmgate.judge.batch import BatchOptions

        return BatchOptions(state_dir=self.settings.cache_dir, poll_interval=self.settings.batch_poll_interval)

    def batching(self) -> bool:
        """True when verdicts arrive only at the end of the session (batch mode)."""
        return any(engine.batching for engine in self._engines)

    def _deadline_left(self) -> float | None:
        """Seconds left of the judge deadline, which counts from the start of the session."""
        if self.settings.judge_deadline is None:
            return None
        return max(0.0, self.settings.judge_deadline - (time.time() - self.started))

    def rubric_needs(self, rubric_name: str) -> frozenset[str]:
        """What a rubric needs besides the output ("reference", "context"); empty for an unknown name.

        Loads the rubrics (and starts the engines) on first use, as a judge request would.
        """
        self.engines()
        found = self.rubrics.get(rubric_name)
        return frozenset(found.needs) if found is not None else frozenset()

    def _rubric(self, rubric_name: str) -> Any:
        from pytest_llmgate.judge.rubrics import PACK_PREFIX

        if rubric_name not in self.rubrics:
            local = sorted(name for name in self.rubrics if not name.startswith(PACK_PREFIX))
            built_in = sorted(name for name in self.rubrics if name.startswith(PACK_PREFIX))
            msg = (
                f"unknown rubric '{rubric_name}' (rubrics in {self.settings.rubrics_dir}: {', '.join(local) or 'none'}; "
                f"built-in: {', '.join(built_in)}). Add rubrics/{rubric_name}.yaml or fix the name."
            )
            raise KeyError(msg)
        return self.rubrics[rubric_name]

    def submit_judge(
        self,
        suite: str,
        case: Any,
        record: CaseResult | RepeatResult,
        rubric_name: str,
        against: Against | None,
        candidate: Any,
        context: list[str] | None = None,
        *,
        repeat: int | None = None,
    ) -> Future[JudgeVerdict]:
        from pytest_llmgate.conversations import as_turns
        from pytest_llmgate.judge.engine import JudgeRequest

        engines = self.engines()
        rubric = self._rubric(rubric_name)
        if "context" in rubric.needs and not context:
            msg = (
                f"rubric '{rubric_name}' judges the answer against retrieved context, and case '{case.id}' has none; "
                "pass context=[chunk texts] to llm_gate.judge() or texts= to llm_gate.retrieval()."
            )
            raise ValueError(msg)
        if "reference" in rubric.needs and case.reference is None:
            msg = f"rubric '{rubric_name}' needs a reference answer, and case '{case.id}' has none; add 'reference' to the case."
            raise ValueError(msg)
        metric = f"judge:{rubric.name}"
        if against is None and rubric.kind == "pairwise":
            against = "reference"
        reference = case.reference if rubric.show_reference else None
        if against is None and reference is not None and rubric.mode != "claims":
            against = "reference"
        result = self.suites[suite]
        result.fingerprints["judge"] = " + ".join(engine.identity for engine in engines)
        known = result.fingerprints.get(f"rubric:{rubric.name}")
        if known is not None and known != rubric.content_hash:
            msg = (
                f"two different rubrics named '{rubric.name}' fill the metric '{metric}' in {suite} "
                f"(a built-in llmgate:{rubric.name} and rubrics/{rubric.name}.yaml?); use one of them."
            )
            raise ValueError(msg)
        result.fingerprints[f"rubric:{rubric.name}"] = rubric.content_hash
        self_value = 0.5 if against == "baseline" else None
        kind: MetricKind = "binary" if rubric.kind == "pass_fail" else "continuous"
        self.declare_metric(suite, MetricSpec(name=metric, kind=kind, self_value=self_value))

        text = output_text(candidate)
        other: str | None = None
        if against == "baseline":
            base = self.baseline(suite)
            base_case = base.cases.get(case.id) if base else None
            if base_case is None or base_case.output is None or self.settings.update:
                # Compared with itself (update) or with nothing: no call, no value unless it is a self-comparison.
                return self._settled(
                    suite,
                    case.id,
                    repeat,
                    rubric,
                    metric,
                    against,
                    text,
                    value=0.5 if self.settings.update else None,
                    label="tie (baseline is this run)" if self.settings.update else None,
                    note=None if self.settings.update else "no baseline output for this case",
                )
            other = output_text(base_case.output)
            if other == text:
                return self._settled(
                    suite,
                    case.id,
                    repeat,
                    rubric,
                    metric,
                    against,
                    text,
                    value=0.5,
                    label="tie (identical to baseline)",
                    note=None,
                )
        turns = as_turns(case.input)
        request = JudgeRequest(
            rubric=rubric_name,
            suite=suite,
            case_id=case.id,
            metric=metric,
            input=output_text(case.input) if turns is None else "",
            candidate=text,
            reference=reference,
            other=other,
            against=against,
            context=tuple(context) if context else None,
            conversation=tuple(turns) if turns is not None else None,
        )
        self._requests[(suite, case.id, metric)] = request
        future = self._submit(rubric, request)
        self._pending.append((suite, case.id, repeat, future))
        return future

    def _submit(self, rubric: Any, request: Any) -> Future[JudgeVerdict]:
        """One request to the judge, or to every judge of the jury."""
        engines = self.engines()
        if len(engines) == 1:
            return engines[0].submit(request)
        return self._jury(rubric, [engine.submit(request) for engine in engines], engines)

    def _jury(self, rubric: Any, members: list[Future[JudgeVerdict]], engines: list[Any]) -> Future[JudgeVerdict]:
        """A future of the jury's verdict, set when every judge's verdict is in."""
        from pytest_llmgate.judge.jury import aggregate

        combined: Future[JudgeVerdict] = Future()
        method = rubric.aggregate or self.settings.jury_aggregate
        provider = " + ".join(engine.provider_name for engine in engines)

        def done(_: Future[JudgeVerdict]) -> None:
            if all(member.done() for member in members) and not combined.done():
                try:
                    combined.set_result(aggregate([member.result() for member in members], method, provider))
                except Exception as exc:  # noqa: BLE001 - a waiting test must not hang on a bug
                    combined.set_exception(exc)

        for member in members:
            member.add_done_callback(done)
        return combined

    def _settled(
        self,
        suite: str,
        case_id: str,
        repeat: int | None,
        rubric: Any,
        metric: str,
        against: Against | None,
        text: str,
        *,
        value: float | None,
        label: str | None,
        note: str | None,
    ) -> Future[JudgeVerdict]:
        """A verdict that needs no judge call; `note` marks one that records no value."""
        verdict = JudgeVerdict(
            rubric=rubric.name,
            rubric_version=rubric.version,
            kind=rubric.kind,
            against=against,
            metric=metric,
            value=value,
            label=label,
            error=f"skipped: {note}" if note else None,
            provider="none",
            output_hash=content_hash(text),
        )
        future: Future[JudgeVerdict] = Future()
        future.set_result(verdict)
        self._pending.append((suite, case_id, repeat, future))
        return future

    def cancel_judges(self) -> tuple[int, int]:
        """Cancel every pending judge call at once (finished ones are already cached): (cancelled, finished)."""
        cancelled = sum(1 for _, _, _, future in self._pending if not future.done())
        finished = len(self._pending) - cancelled
        for engine in self._engines:
            engine.close()
        self._engines = []
        self._pending.clear()
        return cancelled, finished

    def stop(self, reason: str | None = None) -> None:
        """End without a gate: cancel the judge, write nothing, keep one line saying what happened."""
        cancelled, finished = self.cancel_judges()
        self.spill.close()
        if reason is None:
            self.stopped = INTERRUPTED_LINE.format(cancelled=cancelled, finished=finished)
        else:
            self.stopped = reason

    def collect_judges(self) -> None:
        """Wait for every queued verdict and attach it to its case (values only when not an error).

        Ctrl-C during the wait cancels what is pending and marks the run interrupted.
        """
        try:
            for engine in self._engines:  # a jury's batches run side by side
                engine.send_batches()
            for engine in self._engines:
                engine.wait(progress=self.settings.progress)
        except KeyboardInterrupt:
            self.interrupted = True
            self.stop()
            return
        for suite, case_id, repeat, future in self._pending:
            verdict = future.result()
            case = self.suites[suite].cases[case_id]
            record: CaseResult | RepeatResult = case if repeat is None else case.repeats[repeat]
            record.judge.append(verdict)
            if verdict.error is None and verdict.value is not None:
                record.metrics[verdict.metric] = verdict.value
        self._pending.clear()
        if self._engines and self.settings.rejudge_baseline:
            self._rejudge_baselines()
        for name, result in self.suites.items():
            if result.repeat > 1:
                for case in result.cases.values():
                    aggregate_case(case)
                    self.spill.put(name, case)
        for engine in self._engines:
            for rubric, stat in engine.stats().items():
                self.judge_stats[rubric] = merge_rubric_stats(self.judge_stats.get(rubric), stat)
            self.judge_missing += [f"{suite}::{case_id} ({rubric})" for suite, case_id, rubric in engine.missing]
            self.budget_exhausted = self.budget_exhausted or engine.budget_exhausted
            self.notes += [note for note in engine.notes() if note not in self.notes]
            self.budget_usd_exhausted = self.budget_usd_exhausted or engine.budget_usd_exhausted
            self.unjudged_by_deadline += engine.unjudged_calls
            engine.close()
        self._engines = []

    def _rejudge_baselines(self) -> None:
        """Judge each baseline's stored outputs with this run's judge, where the judge or a rubric
        changed, so old and new outputs are compared under the same judge (cached like any call)."""
        from pytest_llmgate.gate.verdict import judge_keys_changed

        engines = self._engines
        identity = " + ".join(engine.identity for engine in engines)
        jobs: list[tuple[str, str, str, Future[JudgeVerdict]]] = []
        for name, suite in sorted(self.suites.items()):
            base = self.baseline(name)
            changed = judge_keys_changed(suite, base) if base is not None else []
            if base is None or not changed:
                continue
            entry = self.rejudged.setdefault(name, {"note": "", "metrics": [], "values": {}})
            metrics: set[str] = set(entry["metrics"])
            for case_id, record in sorted(suite.cases.items()):
                base_case = base.cases.get(case_id)
                for verdict in [*record.judge, *(v for run in record.repeats for v in run.judge)]:
                    spec = suite.metrics.get(verdict.metric)
                    affected = "judge" in changed or f"rubric:{verdict.rubric}" in changed
                    # A pairwise verdict against the baseline's output is a tie by definition there.
                    if spec is None or spec.self_value is not None or not affected:
                        continue
                    metrics.add(verdict.metric)
                    if suite.repeat > 1:
                        continue  # its baseline value is a mean over K outputs it did not keep: left out
                    asked = self._requests.get((name, case_id, verdict.metric))
                    if base_case is None or base_case.output is None or asked is None:
                        continue
                    # The same request (input, reference, context, conversation), the baseline's output judged.
                    request = dataclasses.replace(asked, candidate=output_text(base_case.output))
                    jobs.append((name, case_id, verdict.metric, self._submit(self.rubrics[asked.rubric], request)))
            entry["metrics"] = sorted(metrics)
            old = ", ".join(f"{key} {base.fingerprints.get(key, 'absent')}" for key in changed)
            entry["note"] = f"baseline re-judged with {identity} (it was judged with {old})"
            if suite.repeat > 1:
                entry["note"] += (
                    f"; repeat={suite.repeat}: the baseline keeps one output per case, not its {suite.repeat} runs', "
                    "so the old judge's values are left out, not re-judged; --llm-gate-update records the new judge's"
                )
        for engine in engines:
            engine.wait(progress=self.settings.progress)
        for name, case_id, metric, future in jobs:
            verdict = future.result()
            value = verdict.value if verdict.error is None else None
            self.rejudged[name]["values"].setdefault(case_id, {})[metric] = value

    def _apply_rejudged(self, baselines: dict[str, Baseline | None]) -> dict[str, str]:
        """Baselines with the re-judged values in place of the old judge's; returns the notes.

        Values of an affected metric that were not re-judged (no stored output, a judge error,
        a case not run) are dropped: they come from the old judge and would pair unlike with like."""
        from pytest_llmgate.gate.verdict import judge_keys_changed

        notes: dict[str, str] = {}
        for name, entry in sorted(self.rejudged.items()):
            base = baselines.get(name)
            if base is None:
                continue
            base = base.model_copy(deep=True)
            values: dict[str, dict[str, float | None]] = entry["values"]
            judged = 0
            for case_id, base_case in base.cases.items():
                for metric in entry["metrics"]:
                    value = values.get(case_id, {}).get(metric)
                    if value is None:
                        base_case.metrics.pop(metric, None)
                    else:
                        base_case.metrics[metric] = round(value, 6)
                        judged += 1
            suite = self.suites[name]
            for key in judge_keys_changed(suite, base):
                base.fingerprints[key] = suite.fingerprints[key]
            for metric in entry["metrics"]:
                if metric in suite.metrics:
                    base.metrics.setdefault(metric, suite.metrics[metric])
            for metric in entry["metrics"]:
                found = [c.metrics[metric] for c in base.cases.values() if metric in c.metrics]
                if found:
                    base.aggregates[metric] = {"mean": round(sum(found) / len(found), 6), "n": float(len(found))}
                else:
                    base.aggregates.pop(metric, None)
            baselines[name] = base
            notes[name] = f"{entry['note']}: {judged} value(s) of {', '.join(entry['metrics']) or 'no metric'}"
        return notes

    def _url_fingerprint_notes(self, baselines: dict[str, Baseline | None]) -> None:
        """Older baselines recorded an OpenAI-compatible judge with its URL: accepted, and said."""
        from pytest_llmgate.gate.verdict import judge_identity

        for name, base in sorted(baselines.items()):
            old = base.fingerprints.get("judge") if base is not None else None
            new = self.suites[name].fingerprints.get("judge")
            if old and new and old != new and judge_identity(old) == new:
                self.warnings.append(
                    f"{name}: the baseline's judge fingerprint {old!r} includes a server URL; accepted as "
                    f"{new!r} (same provider and model). Run --llm-gate-update to record it without the URL."
                )

    # -- xdist ------------------------------------------------------------------------------

    def _jury_and_warnings(self, results: RunResults) -> None:
        """Inter-judge agreement of a jury, and the self-preference warning, into the results."""
        if results.judge_provider is None:
            return
        from pytest_llmgate.judge.jury import agreement, self_preference_warnings

        judges = list(self.settings.judges or (self.settings.judge,))
        results.judge_warnings += self_preference_warnings(judges, self.settings.sut_model)
        if len(judges) < 2:
            return
        scales: dict[str, tuple[int, int] | None] = {}
        aggregates: dict[str, str] = {}
        for rubric in self._used_rubrics(results):
            single = rubric.kind == "pointwise" and rubric.mode == "single"
            scales[rubric.name] = (rubric.scale_min, rubric.scale_max) if single else None
            aggregates[rubric.name] = rubric.aggregate or self.settings.jury_aggregate
        results.jury = agreement(results, scales, aggregates)

    def _used_rubrics(self, results: RunResults) -> list[Any]:
        """The rubrics the suites' fingerprints name (loaded again on an xdist controller)."""
        rubrics = self.rubrics
        if not rubrics:
            from pytest_llmgate.judge.rubrics import RubricError, load_pack, load_rubrics

            try:
                rubrics = {**load_pack(), **load_rubrics(self.settings.rubrics_dir)}
            except RubricError:
                return []
        hashes = {value for suite in results.suites.values() for key, value in suite.fingerprints.items()}
        return [rubric for rubric in rubrics.values() if rubric.content_hash in hashes]
