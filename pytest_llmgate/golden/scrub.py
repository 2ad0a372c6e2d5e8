"""Masking personal data and secrets in imported text before it is written to a golden set.

The default masks what can be recognised with confidence (e-mail addresses, API keys and
tokens of well-known shapes, bearer tokens, private-key blocks, JWTs). It is a default, not a
guarantee: names, addresses and phone numbers pass through. A project adds its own rules
with a callable named in the ini option `llm_gate_scrubber` (`module:function`, taking and
returning a string), applied after the default.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Scrubber", "default_scrub", "load_scrubber", "scrub_value"]

Scrubber = Callable[[str], str]

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL), "[private key]"),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"), "[api key]"),
    (re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{16,}"), "[api key]"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "[api key]"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), "[api key]"),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"), "[api key]"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"), "[api key]"),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"), "[token]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{16,}=*"), "Bearer [token]"),
    (re.compile(r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b"), "[email]"),
]


def default_scrub(text: str) -> str:
    """Mask e-mail addresses and secrets of well-known shapes."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def load_scrubber(spec: str | None) -> Scrubber:
    """The default scrubber, followed by the project's `module:function` when one is named."""
    if not spec:
        return default_scrub
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        msg = f"'llm_gate_scrubber' must look like module:function (got {spec!r})."
        raise ValueError(msg)
    try:
        hook = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        msg = f"'llm_gate_scrubber' {spec!r} cannot be loaded ({exc}); check the module path and the function name."
        raise ValueError(msg) from None
    if not callable(hook):
        msg = f"'llm_gate_scrubber' {spec!r} is not callable."
        raise ValueError(msg)

    def scrub(text: str) -> str:
        result = hook(default_scrub(text))
        if not isinstance(result, str):
            msg = f"the scrubber {spec!r} must return a string (got {type(result).__name__})."
            raise TypeError(msg)
        return result

    return scrub


def scrub_value(value: Any, scrub: Scrubber) -> Any:
    """`value` with `scrub` applied to every string inside it (keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_value(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, scrub) for v in value]
    return value
