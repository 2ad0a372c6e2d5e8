"""A judge specification, read without the providers: `offline`, `anthropic:<model>`,
`openai:<model>`, `openai-compatible:<model>@<base_url>`.

Apart from `judge.providers` (SDK wrappers and answer schemas) so that a session checks
`--llm-gate-judge` at start-up without importing what only judging needs.
"""

from __future__ import annotations

from pytest_llmgate._redact import without_credentials

#: The offline judge's full name (`judge.offline.OFFLINE_NAME`).
OFFLINE_NAME = "offline:overlap-v1"


class JudgeConfigError(ValueError):
    """The judge specification is unusable (unknown provider, missing model or URL)."""


def parse_spec(spec: str | None) -> tuple[str, str, str | None]:
    """Split a judge spec into (provider, model, base_url).

    `offline`, `anthropic:<model>`, `openai:<model>`, `openai-compatible:<model>@<base_url>`.
    """
    spec = (spec or "offline").strip()
    if spec in ("offline", OFFLINE_NAME):
        return "offline", "overlap-v1", None
    provider, _, rest = spec.partition(":")
    if provider not in ("anthropic", "openai", "openai-compatible") or not rest:
        msg = (
            f"judge must be 'offline', 'anthropic:<model>', 'openai:<model>' or "
            f"'openai-compatible:<model>@<base_url>' (got {without_credentials(spec)!r})."
        )
        raise JudgeConfigError(msg)
    if provider == "openai-compatible":
        model, _, base_url = rest.partition("@")
        if not model or not base_url.startswith(("http://", "https://")):
            msg = f"an OpenAI-compatible judge needs '<model>@<http(s) base URL>' (got {without_credentials(spec)!r})."
            raise JudgeConfigError(msg)
        return provider, model, base_url
    return provider, rest, None
