"""Judge economics: dollars from usage (cache tokens included), the dollar budget, prices from
genai-prices or ini, Anthropic prompt caching on the stable prefix, and our cache keys."""

from __future__ import annotations

import json
import random
import re
import sqlite3
from pathlib import Path

import pytest
from fake_provider import FakeProvider
from test_judge_engine import RUBRICS, cases, run
from test_plugin_judge import CORRECTNESS, JUDGE, N_CASES, PREFERENCE, TEST_FILE

from pytest_llmgate.gate.records import RunResults
from pytest_llmgate.judge.cache import cache_key
from pytest_llmgate.judge.engine import BUDGET_USD_EXHAUSTED, JudgeEngine, _schema_json
from pytest_llmgate.judge.pricing import Price, PriceError, Usage, parse_price, pricer_for
from pytest_llmgate.judge.prompts import PromptData, render
from pytest_llmgate.judge.providers import AnthropicProvider

# Claude Sonnet 4.5's published prices, $ per million tokens (below its 200k-token tier).
SONNET = {"input": 3.0, "output": 15.0, "cache_read": 0.30, "cache_write": 3.75}
# gpt-4.1-mini's: no cache-write charge on OpenAI.
MINI = {"input": 0.40, "output": 1.60, "cache_read": 0.10}


def by_hand(prices: dict[str, float], usage: Usage) -> float:
    uncached = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    return (
        uncached * prices["input"]
        + usage.cache_read_tokens * prices.get("cache_read", prices["input"])
        + usage.cache_write_tokens * prices.get("cache_write", prices["input"])
        + usage.output_tokens * prices["output"]
    ) / 1e6


# -- prices ---------------------------------------------------------------------------------


def test_table_prices_match_the_published_prices_including_cache_tokens() -> None:
    usage = Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=7_000, cache_write_tokens=3_000)
    sonnet = pricer_for("anthropic", "claude-sonnet-4-5")
    assert sonnet.known and sonnet.source.startswith("genai-prices ")
    assert sonnet.cost(usage) == pytest.approx(by_hand(SONNET, usage), rel=1e-9)
    mini = pricer_for("openai", "gpt-4.1-mini")
    openai_usage = Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=7_000)
    assert mini.cost(openai_usage) == pytest.approx(by_hand(MINI, openai_usage), rel=1e-9)
    # Cache reads are billed at a tenth of the input price: what they saved, worked by hand.
    assert sonnet.saved_by_cache(usage) == pytest.approx(7_000 * (3.0 - 0.30) / 1e6, rel=1e-9)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-haiku-4-5"),
        ("openai", "gpt-4.1-mini"),
        ("openai", "gpt-4o"),
    ],
)
def test_per_token_rates_agree_with_genai_prices_itself(provider: str, model: str) -> None:
    """Calls are priced from rates read off the table once; genai-prices prices them the same,
    including past the long-context tier (Sonnet's 200k), where it is asked directly."""
    from genai_prices import Usage as TableUsage
    from genai_prices import calc_price

    pricer = pricer_for(provider, model)
    rng = random.Random(7)
    for _ in range(300):
        total = rng.choice([rng.randint(0, 30_000), rng.randint(30_000, 400_000)])
        read = rng.randint(0, total)
        write = rng.randint(0, total - read) if provider == "anthropic" else 0
        usage = Usage(total, rng.randint(0, 4000), read, write)
        reference = calc_price(
            TableUsage(
                input_tokens=total, output_tokens=usage.output_tokens, cache_read_tokens=read, cache_write_tokens=write
            ),
            model_ref=model,
            provider_id=provider,
        )
        assert pricer.cost(usage) == pytest.approx(float(reference.total_price), rel=1e-9, abs=1e-12), usage


def test_ini_price_unknown_model_and_offline() -> None:
    price = parse_price("input=0.10 output=0.40 cache_read=0.01")
    assert price == Price(input=0.10, output=0.40, cache_read=0.01)
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cache_read_tokens=400_000)
    assert price.cost(usage) == pytest.approx(0.6 * 0.10 + 0.4 * 0.01 + 0.5 * 0.40)
    assert price.cost(Usage(input_tokens=100, cache_write_tokens=100)) == pytest.approx(100 * 0.10 / 1e6)
    local = pricer_for("openai-compatible", "llama3", price)
    assert local.known and local.cost(usage) == price.cost(usage)
    assert "llm_gate_judge_price" in local.source
    unknown = pricer_for("openai-compatible", "llama3")
    assert not unknown.known and unknown.cost(usage) is None and unknown.source.startswith("price unknown")
    assert pricer_for("openai", "gpt-nonexistent-9").source.startswith("price unknown (openai:gpt-nonexistent-9")
    offline = pricer_for("offline", "overlap-v1")
    assert offline.free and offline.cost(usage) == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input=0.1", "'llm_gate_judge_price' needs output (got 'input=0.1')"),
        ("input=0.1 output=x", "'llm_gate_judge_price' output must be a non-negative number"),
        ("input=0.1 output=-2", "(got '-2')"),
        ("inputs=0.1 output=1", "KEY one of input, output, cache_read, cache_write (got 'inputs=0.1')"),
    ],
)
def test_bad_ini_price_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PriceError, match=re.escape(message)):
        parse_price(text)


# -- usage through the real SDKs --------------------------------------------------------------


def test_anthropic_marks_the_stable_prefix_and_reports_cache_reads(fake_provider: FakeProvider) -> None:
    requests = cases(4, "correctness")
    first, _ = run("anthropic:claude-sonnet-4-5", requests[:1])
    verdicts, engine = run("anthropic:claude-sonnet-4-5", requests[1:])
    for body in fake_provider.bodies:
        system = body["system"]
        assert isinstance(system, list) and len(system) == 1
        assert system[0]["cache_control"] == {"type": "ephemeral"}
        assert "Correct?" in system[0]["text"]  # the rubric is in the cached prefix
        assert "Correct?" not in body["messages"][0]["content"]  # the case's data comes after it, apart
    write = first[0].calls[0]
    assert write.cache_write_tokens > 0 and write.cache_read_tokens == 0
    assert write.input_tokens > write.cache_write_tokens  # input_tokens counts every input token
    assert write.cost_usd == pytest.approx(
        by_hand(SONNET, Usage(write.input_tokens, write.output_tokens, 0, write.cache_write_tokens))
    )
    total_saved = 0.0
    for verdict in verdicts:
        call = verdict.calls[0]
        assert call.cache_read_tokens == write.cache_write_tokens and call.cache_write_tokens == 0
        usage = Usage(call.input_tokens, call.output_tokens, call.cache_read_tokens, 0)
        assert call.cost_usd == pytest.approx(by_hand(SONNET, usage), rel=1e-9)
        assert call.cache_savings_usd == pytest.approx(call.cache_read_tokens * (3.0 - 0.30) / 1e6, rel=1e-9)
        total_saved += call.cache_savings_usd or 0.0
    stats = engine.stats()["correctness"]
    assert stats.cache_read_tokens == 3 * write.cache_write_tokens
    assert stats.cache_savings_usd == pytest.approx(total_saved)
    assert stats.cost_usd == pytest.approx(sum(v.calls[0].cost_usd or 0 for v in verdicts))
    assert engine.cost_used == pytest.approx(stats.cost_usd)


def test_openai_cached_tokens_are_read_from_prompt_tokens_details(fake_provider: FakeProvider) -> None:
    verdicts, engine = run("openai:gpt-4.1-mini", cases(3, "correctness"), concurrency=1)
    first, *rest = [v.calls[0] for v in verdicts]
    assert first.cache_read_tokens == 0
    assert all(call.cache_read_tokens > 0 and call.input_tokens > call.cache_read_tokens for call in rest)
    for call in (first, *rest):
        usage = Usage(call.input_tokens, call.output_tokens, call.cache_read_tokens)
        assert call.cost_usd == pytest.approx(by_hand(MINI, usage), rel=1e-9)


def test_cache_keys_do_not_depend_on_the_prompt_cache(fake_provider: FakeProvider, tmp_path: Path) -> None:
    """The key is the judge's identity and the rendered prompt's text: marking the prefix with
    cache_control, or the provider answering from its prompt cache, changes no key."""
    requests = cases(3, "correctness")
    run("anthropic:claude-sonnet-4-5", requests, cache_dir=tmp_path)
    rubric = RUBRICS["correctness"]
    expected = set()
    for request in requests:
        prompt = render(
            rubric, PromptData(input=request.input, candidate=request.candidate, reference=request.reference), "forward"
        )
        expected.add(
            cache_key(
                provider="anthropic:claude-sonnet-4-5",
                model="claude-sonnet-4-5",
                system=prompt.system,
                user=prompt.user,
                schema=_schema_json("pointwise"),
                parameters=AnthropicProvider.parameters,
                rubric_version="1",
            )
        )
    with sqlite3.connect(tmp_path / "judge-cache.sqlite") as conn:
        stored = {row[0] for row in conn.execute("SELECT key FROM judge_cache")}
    assert stored == expected
    # The first call wrote the provider's prompt cache, the others read it; the rerun hits our
    # cache for all three, whatever usage the provider reported.
    calls = fake_provider.request_count
    verdicts, engine = run("anthropic:claude-sonnet-4-5", requests, cache_dir=tmp_path)
    assert fake_provider.request_count == calls
    assert all(v.calls[0].cached and v.calls[0].cost_usd == 0 for v in verdicts)
    assert engine.stats()["correctness"].list_cost_usd == pytest.approx(
        sum(v.calls[0].list_cost_usd or 0 for v in verdicts)
    )
    assert all((v.calls[0].list_cost_usd or 0) > 0 for v in verdicts)


def test_dollar_budget_stops_issuing_calls(fake_provider: FakeProvider) -> None:
    one_call = run("openai:gpt-4.1-mini", cases(1, "correctness"))[1].cost_used
    fake_provider.reset()
    budget = one_call * 2.5
    verdicts, engine = run("openai:gpt-4.1-mini", cases(8, "correctness"), concurrency=1, budget_usd=budget)
    made = [v.calls[0].cost_usd or 0.0 for v in verdicts if v.error is None]
    refused = [v for v in verdicts if v.error is not None]
    # Calls are issued while less than the budget is spent: the last one made crossed it.
    assert sum(made[:-1]) < budget <= sum(made) == pytest.approx(engine.cost_used)
    assert refused and fake_provider.request_count == len(made)
    assert all(BUDGET_USD_EXHAUSTED in (v.error or "") for v in refused)
    assert engine.budget_usd_exhausted and not engine.budget_exhausted


def test_dollar_budget_needs_a_price(fake_provider: FakeProvider) -> None:
    with pytest.raises(ValueError, match=r"'budget_usd' needs a price for the judge openai:gpt-nonexistent-9"):
        JudgeEngine(provider="openai:gpt-nonexistent-9", rubrics=RUBRICS, cache_dir=None, budget_usd=1.0)


# -- in gated sessions ----------------------------------------------------------------------


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, fake_provider: FakeProvider) -> pytest.Pytester:
    monkeypatch.setenv("GATE_MODE", "good")
    pytester.makeini("[pytest]\n")
    lines = [
        json.dumps({"id": f"j-{i}", "input": f"Crate {i}?", "reference": f"Crate {i} holds {i * 3 + 7} apples."})
        for i in range(N_CASES)
    ]
    (pytester.path / "datasets").mkdir()
    (pytester.path / "datasets/qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (pytester.path / "rubrics").mkdir()
    (pytester.path / "rubrics/correctness.yaml").write_text(CORRECTNESS, encoding="utf-8")
    (pytester.path / "rubrics/preference.yaml").write_text(PREFERENCE, encoding="utf-8")
    pytester.makepyfile(test_qa=TEST_FILE)
    return pytester


def _results(project: pytest.Pytester) -> RunResults:
    return RunResults.model_validate_json((project.path / "reports/llm-gate.json").read_text(encoding="utf-8"))


def with_judge(spec: str) -> tuple[str, ...]:
    return (*JUDGE[:-1], spec)


def test_costs_in_results_terminal_markdown_report_and_baseline(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = with_judge("anthropic:claude-haiku-4-5")
    update = project.runpytest(*args, "--llm-gate-update")
    assert update.ret == 0, update.stdout.str()
    results = _results(project)
    stats = results.judge_stats["correctness"]
    calls = [c for case in results.suites["test_qa.py::test_qa"].cases.values() for v in case.judge for c in v.calls]
    assert results.judge_price and results.judge_price.startswith("genai-prices")
    assert stats.cost_usd == pytest.approx(sum(c.cost_usd or 0 for c in calls)) and stats.cost_usd > 0
    assert stats.cache_read_tokens > 0 and (stats.cache_savings_usd or 0) > 0
    baseline = json.loads((project.path / "baselines/test_qa/test_qa.json").read_text())
    assert baseline["judge_cost"]["usd"] == pytest.approx(stats.list_cost_usd, abs=1e-6)
    assert baseline["judge_cost"]["calls"] == N_CASES
    update.stdout.fnmatch_lines(
        [
            "*rubric*tokens*cache read*cost*",
            "*judge cost: $* spent (* tokens, 24 calls)*prompt cache: * tokens read, saved $*",
        ]
    )

    # Half the outputs change: those are judged again, the rest come from our cache.
    monkeypatch.setenv("GATE_MODE", "worse")
    rerun = project.runpytest(*args)
    now = _results(project)
    spent = now.judge_stats["correctness"].cost_usd or 0
    assert 0 < spent < stats.cost_usd
    rerun.stdout.fnmatch_lines(["*judge cost: $*without the judge cache (12 hits)*baseline $*"])
    markdown = (project.path / "reports/llm-gate.md").read_text(encoding="utf-8")
    assert "judge cost: \\$" in markdown and "baseline \\$" in markdown  # `$` escaped for GitHub
    html = (project.path / "reports/llm-gate.html").read_text(encoding="utf-8")
    assert '<dd class="judge-cost">$' in html


def test_unknown_price_falls_back_to_tokens_and_ini_prices_a_local_server(
    project: pytest.Pytester, fake_provider: FakeProvider
) -> None:
    spec = f"openai-compatible:llama3@{fake_provider.url}/v1"
    unknown = project.runpytest(*with_judge(spec), "--llm-gate-update", "--llm-gate-no-cache")
    unknown.stdout.fnmatch_lines(["*judge cost: price unknown (set llm_gate_judge_price*; * tokens spent in 24 calls"])
    assert _results(project).judge_stats["correctness"].cost_usd is None
    assert "usd" not in json.loads((project.path / "baselines/test_qa/test_qa.json").read_text())["judge_cost"]

    project.makeini("[pytest]\nllm_gate_judge_price = input=0.10 output=0.40\n")
    priced = project.runpytest(*with_judge(spec), "--llm-gate-no-cache")
    stats = _results(project).judge_stats["correctness"]
    expected = (stats.input_tokens * 0.10 + stats.output_tokens * 0.40) / 1e6
    assert stats.cost_usd == pytest.approx(expected)
    priced.stdout.fnmatch_lines(["*judge cost: $*(prices: llm_gate_judge_price (input=0.1 output=0.4 $/Mtok))"])


def test_offline_judge_costs_nothing_and_says_so(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress", "--llm-gate-update")
    result.stdout.fnmatch_lines(["*judge cost: $0 (offline judge: free, no tokens)*"])
    assert _results(project).judge_price == "offline judge: free"


def test_budget_usd_without_a_price_is_a_usage_error_before_any_test(project: pytest.Pytester) -> None:
    result = project.runpytest(*with_judge("openai:gpt-test"), "--llm-gate-budget-usd", "0.5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*'--llm-gate-budget-usd' needs the judge's price, and openai:gpt-test has none*llm_gate_judge_price*"]
    )
    project.makeini("[pytest]\nllm_gate_judge_price = input=cheap\n")
    result = project.runpytest(*with_judge("openai:gpt-test"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'llm_gate_judge_price' input must be a non-negative number*(got 'cheap')*"])


def test_budget_usd_turns_later_verdicts_into_counted_judge_errors(project: pytest.Pytester) -> None:
    args = (*with_judge("openai:gpt-4.1-mini"), "--llm-gate-concurrency", "1", "--llm-gate-budget-usd", "0.00001")
    gated = project.runpytest(*args)
    stats = _results(project).judge_stats["correctness"]
    assert stats.verdicts == N_CASES and 0 < stats.errors < N_CASES
    gated.stdout.fnmatch_lines(["*the judge dollar budget ($1e-05) ran out: verdicts after it are judge errors*"])
    assert gated.ret == pytest.ExitCode.TESTS_FAILED
    # Such a run never becomes the baseline.
    update = project.runpytest(*args, "--llm-gate-update")
    assert update.ret == pytest.ExitCode.TESTS_FAILED
    assert not (project.path / "baselines/test_qa/test_qa.json").exists()


def test_a_jury_shares_one_budget(fake_provider: FakeProvider) -> None:
    """The judges of a jury spend from one ledger: once the first spent the budget, the second
    makes no call."""
    from pytest_llmgate.judge.engine import BUDGET_EXHAUSTED, Spending

    one_call = run("openai:gpt-test", cases(1, "correctness"))[1].tokens_used
    fake_provider.reset()
    spending = Spending()
    budget = one_call * 3
    first, first_engine = run(
        "openai:gpt-test", cases(8, "correctness"), concurrency=1, budget_tokens=budget, spending=spending
    )
    made = fake_provider.request_count
    second, second_engine = run(
        "anthropic:claude-test", cases(8, "correctness"), concurrency=1, budget_tokens=budget, spending=spending
    )
    assert 0 < made < 8 and fake_provider.request_count == made, "the second judge made no call"
    assert all(BUDGET_EXHAUSTED in (v.error or "") for v in second)
    assert spending.tokens == first_engine.tokens_used + second_engine.tokens_used == first_engine.tokens_used
    assert budget <= spending.tokens < budget + one_call * 1.5


def test_xdist_workers_split_the_budget(project: pytest.Pytester, fake_provider: FakeProvider) -> None:
    """With -n 2 each worker may spend half the token budget, so together they stay within it
    (up to the one call per worker that crosses its share)."""
    args = (*with_judge("openai:gpt-test"), "--llm-gate-no-cache")
    project.runpytest(*args)
    calls = [
        call.input_tokens + call.output_tokens
        for suite in _results(project).suites.values()
        for case in suite.cases.values()
        for verdict in case.judge
        for call in verdict.calls
    ]
    biggest = max(calls)
    budget = biggest * 6
    project.runpytest(*args, "-n", "2", "--llm-gate-concurrency", "2", "--llm-gate-budget-tokens", str(budget))
    stats = _results(project).judge_stats["correctness"]
    spent = stats.input_tokens + stats.output_tokens
    assert stats.errors > 0, "the budget ran out"
    assert spent <= budget + 2 * biggest, f"{spent} tokens spent with a budget of {budget}"


def test_worker_budgets_add_up_to_the_budget() -> None:
    from pytest_llmgate.config import worker_budgets

    shares = [worker_budgets(10, 1.0, {"workercount": 3, "workerid": f"gw{i}"}) for i in range(3)]
    assert [tokens for tokens, _ in shares] == [4, 3, 3]
    assert sum(usd or 0 for _, usd in shares) == pytest.approx(1.0)
    assert worker_budgets(None, None, {"workercount": 2, "workerid": "gw1"}) == (None, None)


@pytest.mark.parametrize(
    ("spec", "ini"),
    [
        ("openai-compatible:llama3@{url}/v1", "llm_gate_judge_price = input=10 output=40"),
        ("anthropic:claude-sonnet-4-5", None),
    ],
)
def test_a_dollar_budget_is_overshot_by_at_most_one_call(
    project: pytest.Pytester, fake_provider: FakeProvider, spec: str, ini: str | None
) -> None:
    """Sixteen calls in flight at once (the default concurrency, with latency so they overlap):
    calls in flight are bounded by what is left of the budget, so the spend ends within one
    call's cost of it (an ini price for a local server, table prices for Anthropic)."""
    from fake_provider import FakeConfig

    fake_provider.reset(FakeConfig(latency=0.5))
    if ini is not None:
        project.makeini(f"[pytest]\n{ini}\n")
    args = (*with_judge(spec.format(url=fake_provider.url)), "--llm-gate-no-cache")
    project.runpytest(*args)
    costs = [
        call.cost_usd or 0.0
        for suite in _results(project).suites.values()
        for case in suite.cases.values()
        for verdict in case.judge
        for call in verdict.calls
    ]
    assert len(costs) == N_CASES and min(costs) > 0
    budget = sum(costs) / 4
    project.runpytest(*args, "--llm-gate-budget-usd", f"{budget:.8f}")
    stats = _results(project).judge_stats["correctness"]
    spent = stats.cost_usd or 0.0
    assert stats.errors > 0, "the budget ran out"
    assert budget <= spent <= budget + max(costs), f"${spent:.6f} spent with a budget of ${budget:.6f}"
