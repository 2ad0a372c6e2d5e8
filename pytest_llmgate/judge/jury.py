"""Juries: several judges on one rubric, their verdicts combined, their agreement measured;
and the self-preference check (a judge of the SUT's own model family).

Aggregation, per verdict, over the judges that answered (a judge's error is counted in its
own statistics and the others still decide):
- `mean`: the mean of the judges' values (pointwise score, pairwise win/tie/loss);
- `majority`: pointwise, the median score (for two judges, their mean); pairwise, the label
  most judges gave, a tie when no label has a strict majority;
- pass/fail rubrics always take the majority, a tie between judges being a fail (their
  metric is 0/1, and a pass must convince, as it must survive both orders).
Inter-judge agreement per pair of judges is Cohen's kappa with a seeded bootstrap interval
(`calibration.agreement`): quadratic-weighted over the rubric's scale for pointwise rubrics,
unweighted for pass/fail and pairwise ones; claims-mode shares are binned into quarters.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pytest_llmgate.gate.records import JudgeVerdict, RunResults

PAIRWISE_VALUE = {"win": 1.0, "tie": 0.5, "loss": 0.0}

#: Model-name patterns of each model family (the judge provider does not say: an
#: OpenAI-compatible server can serve any family).
_FAMILIES = (
    ("anthropic", re.compile(r"claude|anthropic", re.IGNORECASE)),
    ("openai", re.compile(r"^(gpt|o\d|chatgpt|davinci|openai)|gpt-", re.IGNORECASE)),
    ("google", re.compile(r"gemini|gemma|palm|bison", re.IGNORECASE)),
    ("meta", re.compile(r"llama", re.IGNORECASE)),
    ("mistral", re.compile(r"mistral|mixtral|codestral|ministral", re.IGNORECASE)),
    ("qwen", re.compile(r"qwen|qwq", re.IGNORECASE)),
    ("deepseek", re.compile(r"deepseek", re.IGNORECASE)),
    ("cohere", re.compile(r"command|cohere|aya", re.IGNORECASE)),
    ("xai", re.compile(r"grok", re.IGNORECASE)),
    ("microsoft", re.compile(r"\bphi", re.IGNORECASE)),
)
#: A judge of another family to suggest, per family.
_SUGGEST = {"anthropic": "openai:gpt-4.1", "openai": "anthropic:claude-sonnet-4-5"}


def model_family(spec: str | None) -> str | None:
    """The model family of a judge spec or model name (`anthropic:claude-x`, `gpt-4.1`), or None."""
    if not spec:
        return None
    spec = spec.strip()
    provider, sep, rest = spec.partition(":")
    if sep and provider == "anthropic":
        return "anthropic"
    model = rest.partition("@")[0] if sep and provider in ("openai", "openai-compatible") else spec
    if spec == "offline" or provider == "offline":
        return None
    for family, pattern in _FAMILIES:
        if pattern.search(model):
            return family
    return "openai" if provider == "openai" and sep else None


def self_preference_warnings(judges: Iterable[str], sut_model: str | None) -> list[str]:
    """One warning per judge whose model family is the system under test's."""
    sut_family = model_family(sut_model)
    if sut_family is None:
        return []
    warnings = []
    for judge in judges:
        if model_family(judge) == sut_family:
            other = _SUGGEST.get(sut_family, "anthropic:claude-sonnet-4-5")
            warnings.append(
                f"self-preference: the judge {judge} is of the same model family ({sut_family}) as the system "
                f"under test ({sut_model}); judges tend to favour answers of their own family. "
                f"Add or use a judge of another family, e.g. --llm-gate-judge {other}."
            )
    return warnings


def _method(kind: str, method: str) -> str:
    return "majority" if kind == "pass_fail" else method


def aggregate(members: list[JudgeVerdict], method: str, provider: str) -> JudgeVerdict:
    """One verdict from every judge's verdict on the same request (see the module docstring)."""
    first = members[0]
    verdict = JudgeVerdict(
        rubric=first.rubric,
        rubric_version=first.rubric_version,
        kind=first.kind,
        against=first.against,
        metric=first.metric,
        provider=provider,
        output_hash=first.output_hash,
        context=first.context,
        context_hash=first.context_hash,
        jury=members,
    )
    valued = [m for m in members if m.error is None and m.value is not None]
    if not valued:
        if any(m.error is None for m in members):
            verdict.label = next(m.label for m in members if m.error is None)
            return verdict
        verdict.error = "every judge failed: " + "; ".join(f"{m.provider}: {m.error}" for m in members)
        return verdict
    how = _method(first.kind, method)
    values = [float(m.value) for m in valued if m.value is not None]
    if first.kind == "pass_fail":
        passes = sum(v >= 0.5 for v in values)
        verdict.value = 1.0 if passes * 2 > len(values) else 0.0
        verdict.label = f"{'pass' if verdict.value else 'fail'} ({passes} of {len(values)} judges pass)"
    elif first.kind == "pairwise" and how == "majority":
        labels = Counter(_pairwise_label(v) for v in values)
        label, count = labels.most_common(1)[0]
        if count * 2 <= len(values):
            label = "tie"
        verdict.value = PAIRWISE_VALUE[label]
        verdict.label = f"{label} (majority of {len(values)} judges)"
    else:
        verdict.value = statistics.median(values) if how == "majority" else statistics.fmean(values)
        verdict.label = f"{how} of {len(values)} judges: {verdict.value:.3f}"
    if len(valued) < len(members):
        verdict.label += f"; {len(members) - len(valued)} judge(s) gave no value"
    return verdict


def _pairwise_label(value: float) -> str:
    return "win" if value > 0.5 else "loss" if value < 0.5 else "tie"


def _category(verdict: JudgeVerdict, scale: tuple[int, int] | None) -> Any:
    """A judge's verdict as a category for kappa."""
    assert verdict.value is not None
    if verdict.kind == "pass_fail":
        return "pass" if verdict.value >= 0.5 else "fail"
    if verdict.kind == "pairwise":
        return _pairwise_label(verdict.value)
    if verdict.claims is not None or scale is None:
        return int(math.floor(verdict.value * 4 + 0.5 + 1e-9))
    low, high = scale
    return int(math.floor(low + verdict.value * (high - low) + 0.5 + 1e-9))


def agreement(
    results: RunResults, scales: dict[str, tuple[int, int] | None], aggregates: dict[str, str]
) -> dict[str, Any]:
    """Per rubric judged by a jury: its judges, aggregation and kappa per pair of judges.

    `scales` maps a rubric name to its pointwise scale (None for claims mode or unknown).
    """
    from pytest_llmgate.calibration.agreement import cohen_kappa, kappa_bootstrap

    by_rubric: dict[str, list[list[JudgeVerdict]]] = {}
    for suite in results.suites.values():
        for case in suite.cases.values():
            for verdict in case.judge:
                if verdict.jury:
                    by_rubric.setdefault(verdict.rubric, []).append(verdict.jury)
    out: dict[str, Any] = {}
    for rubric, juries in sorted(by_rubric.items()):
        judges = [m.provider for m in juries[0]]
        kind = juries[0][0].kind
        scale = scales.get(rubric)
        claims = any(m.claims is not None for jury in juries for m in jury)
        if kind == "pass_fail":
            categories: list[Any] = ["fail", "pass"]
        elif kind == "pairwise":
            categories = ["loss", "tie", "win"]
        elif claims or scale is None:
            categories = [0, 1, 2, 3, 4]
        else:
            categories = list(range(scale[0], scale[1] + 1))
        weights = "quadratic" if kind == "pointwise" else None
        pairs = []
        for i in range(len(judges)):
            for j in range(i + 1, len(judges)):
                a, b = [], []
                for jury in juries:
                    left, right = jury[i], jury[j]
                    if left.value is None or right.value is None or left.error or right.error:
                        continue
                    a.append(_category(left, None if claims else scale))
                    b.append(_category(right, None if claims else scale))
                kappa = cohen_kappa(a, b, categories, weights) if a else None
                low, high, _ = kappa_bootstrap(a, b, categories, weights) if a else (None, None, 0)
                pairs.append(
                    {
                        "a": judges[i],
                        "b": judges[j],
                        "n": len(a),
                        "agreement": sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else None,
                        "kappa": kappa,
                        "low": low,
                        "high": high,
                        "weights": weights,
                    }
                )
        out[rubric] = {
            "judges": judges,
            "aggregate": _method(kind, aggregates.get(rubric, "mean")),
            "verdicts": len(juries),
            "confidence": 0.95,
            "pairs": pairs,
        }
    return out


def agreement_lines(jury: dict[str, Any]) -> list[str]:
    """Inter-judge agreement as plain lines for the terminal summary."""
    if not jury:
        return []
    lines = ["jury: inter-judge agreement (Cohen's kappa, 95% bootstrap interval)"]
    for rubric, entry in jury.items():
        for pair in entry["pairs"]:
            kappa = "–" if pair["kappa"] is None else f"{pair['kappa']:.2f}"
            interval = "" if pair["low"] is None else f" [{pair['low']:.2f}, {pair['high']:.2f}]"
            share = "–" if pair["agreement"] is None else f"{pair['agreement']:.0%}"
            lines.append(
                f"  {rubric} ({entry['aggregate']}): {pair['a']} vs {pair['b']}: kappa {kappa}{interval}, "
                f"exact agreement {share}, n={pair['n']}"
            )
    lines.append("")
    return lines
