"""Masking personal data and secrets in imported text before it is written to a golden set.

The default masks what can be recognised with confidence: e-mail addresses; API keys and
tokens of well-known shapes (Anthropic, OpenAI, GitHub classic and fine-grained, AWS access
key ids and secret keys, Stripe, Hugging Face, Slack, Google); bearer tokens, JWTs,
private-key blocks; the password of a URL (`scheme://user:pass@host`); and the value of a
secret-named field or query parameter (`api_key=`, `token=`, `"client_secret": "..."`,
`AWS_SECRET_ACCESS_KEY=`). It is a default, not a guarantee: names, addresses and phone
numbers pass through. A project adds its own rules with a callable named in the ini option
`llm_gate_scrubber` (`module:function`, taking and returning a string), applied after the
default.

Every rule runs in time linear in the text: imported traces are untrusted, and a backtracking
pattern (`[chars]+@` tried from every position of a long run of those chars) turns one
megabyte into hours. Each token pattern starts with a look-behind that lets a match begin
only where a run of its characters begins, and consumes runs with possessive quantifiers
(`++`, `{n,}+`), so each character is read a bounded number of times per rule.

We do not use a detector library such as detect-secrets: it scans source files line by line
for commits and reports findings, not spans to mask; its plugins are ordinary backtracking
patterns whose cost on hostile input we would have to audit anyway; and its entropy
detectors would mask hashes and ids that a golden set needs.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Scrubber", "clean_text", "default_scrub", "load_scrubber", "scrub_value"]

Scrubber = Callable[[str], str]

API_KEY = "[api key]"
TOKEN = "[token]"
SECRET = "[secret]"

#: Characters of API keys of the dash-and-underscore kind (Anthropic, OpenAI, Slack, Google).
_KEY = r"A-Za-z0-9_\-"
#: Characters of word-like tokens (GitHub, Stripe, Hugging Face).
_WORD = r"A-Za-z0-9_"
#: Characters of an e-mail's local part.
_LOCAL = r"A-Za-z0-9._%+\-"


def _token(prefix: str, body: str, chars: str = _KEY) -> re.Pattern[str]:
    """A token that starts with `prefix` where a run of `chars` starts (so never mid-run).

    The prefix comes first, so the engine skips ahead to it; the look-behind after it checks
    the character before the prefix.
    """
    return re.compile(rf"{prefix}(?<![{chars}]{prefix}){body}")


#: (pattern, mask, text that a match contains): tokens recognised by their own shape.
_TOKENS: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    (_token("sk-ant-", rf"[{_KEY}]{{8,}}+"), API_KEY, ("sk-",)),  # Anthropic
    (_token("sk-", rf"[{_KEY}]{{16,}}+"), API_KEY, ("sk-",)),  # OpenAI: sk-..., sk-proj-..., sk-svcacct-...
    (_token("github_pat_", rf"[{_WORD}]{{22,}}+", _WORD), API_KEY, ("github_pat_",)),  # GitHub fine-grained
    (_token("gh[pousr]_", r"[A-Za-z0-9]{30,}+", _WORD), API_KEY, ("gh",)),  # GitHub classic, OAuth, app
    (_token("[sr]k_(?:live|test)_", r"[A-Za-z0-9]{10,}+", _WORD), API_KEY, ("k_live_", "k_test_")),  # Stripe
    (_token("whsec_", r"[A-Za-z0-9]{20,}+", _WORD), API_KEY, ("whsec_",)),  # Stripe webhook secret
    (_token("hf_", r"[A-Za-z0-9]{30,}+", _WORD), API_KEY, ("hf_",)),  # Hugging Face
    (_token("xox[abeprs]-", rf"[{_KEY}]{{10,}}+"), API_KEY, ("xox",)),  # Slack
    (_token("AIza", r"[0-9A-Za-z_\-]{35}"), API_KEY, ("AIza",)),  # Google
    # AWS access key ids: fixed length, so a longer run of capitals and digits is something else.
    (_token("A(?:KIA|SIA|BIA|CCA)", r"[0-9A-Z]{16}(?![A-Za-z0-9])", "A-Za-z0-9"), API_KEY, ("A",)),
    (_token("eyJ", rf"[{_KEY}]{{8,}}+\.[{_KEY}]{{8,}}+\.[{_KEY}]{{8,}}+"), TOKEN, ("eyJ",)),  # JWT
]

_BEARER = re.compile(r"(?i)bearer(?<![A-Za-z0-9_]bearer)[ \t]++[A-Za-z0-9._~+/\-]{16,}+=*+")

#: `scheme://user:password@`: the user info of a URL (the host stays).
_URL_CREDENTIALS = re.compile(r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]*+://)[^\s/?#@:\"'<>]*+:[^\s/?#@\"'<>]++@")

#: What a field or parameter is called when its value is a secret: the name ends with one of
#: these (any case; `-` or `.` in place of `_`).
_SECRET_NAME_ENDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "apikey",
    "api[_.\\-]key",
    "access[_.\\-]key",
    "secret[_.\\-]key",
    "private[_.\\-]key",
    "credential",
    "credentials",
    "signature",
    "auth",
)
#: A secret-named field or parameter and what separates it from its value (`api_key=`,
#: `"token": "`): the name is read whole, then its end is checked by look-behinds.
_SECRET_FIELD = re.compile(
    r"(?i)(?<![A-Za-z0-9_.\-])[A-Za-z0-9_.\-]++(?:"
    + "|".join(f"(?<={end})" for end in _SECRET_NAME_ENDS)
    + r")[\"']?+[ \t]*+[:=][ \t]*+[\"']?+"
)
#: The value after a secret-named field: up to a separator, a quote, a space or the next `key=`.
_VALUE = re.compile(r"[^\s\"'&,;:=<>(){}\[\]]{4,}+")

#: An AWS secret access key on its own: exactly 40 characters of base64 with upper and lower
#: case letters and digits (a hex digest has no capitals; a path starts with a slash).
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9+][A-Za-z0-9/+]{39}(?![A-Za-z0-9/+=])")

_EMAIL = re.compile(rf"(?<![{_LOCAL}])[{_LOCAL}]++@([A-Za-z0-9\-]++(?:\.[A-Za-z0-9\-]++)++)")

_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_PRIVATE_KEY_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")
#: The body of a key block whose END line is missing (cut short): base64 and line breaks.
_PRIVATE_KEY_BODY = re.compile(r"[A-Za-z0-9+/=\s]*+")

#: Code points that cannot be written as UTF-8: lone surrogates (half of an emoji cut short).
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD, so it can be written as UTF-8.

    A JSON string may hold `"\\ud83d"` alone (an emoji cut by `max_tokens`); it decodes to a
    code point no UTF-8 file can hold.
    """
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _mask_private_keys(text: str) -> str:
    """Mask `-----BEGIN ... PRIVATE KEY-----` blocks; one without its END line is masked to the end of its body."""
    if "PRIVATE KEY-----" not in text:
        return text
    out: list[str] = []
    pos = 0
    end_missing = False  # once no END follows a BEGIN, none follows a later one either
    while (begin := _PRIVATE_KEY_BEGIN.search(text, pos)) is not None:
        out.append(text[pos : begin.start()])
        end = None if end_missing else _PRIVATE_KEY_END.search(text, begin.end())
        if end is None:
            end_missing = True
            stop = _PRIVATE_KEY_BODY.match(text, begin.end())
            pos = stop.end() if stop else begin.end()
        else:
            pos = end.end()
        out.append("[private key]")
    out.append(text[pos:])
    return "".join(out)


def _mask_secret_fields(text: str) -> str:
    """Mask the value of every field or query parameter whose name says it is a secret."""
    spans: list[tuple[int, int]] = []
    for field in _SECRET_FIELD.finditer(text):
        value = _VALUE.match(text, field.end())
        if value is not None:
            spans.append(value.span())
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, stop in spans:
        out.append(text[pos:start] + SECRET)
        pos = stop
    out.append(text[pos:])
    return "".join(out)


def _aws_secret(match: re.Match[str]) -> str:
    value = match.group()
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value) and any(c.isdigit() for c in value)
    return API_KEY if mixed else value


def _email(match: re.Match[str]) -> str:
    top = match.group(1).rsplit(".", 1)[1]
    return "[email]" if len(top) >= 2 and top.isascii() and top.isalpha() else match.group()


def default_scrub(text: str) -> str:
    """Mask e-mail addresses and secrets of well-known shapes (linear in the length of `text`).

    A rule runs only when the text holds what its matches must contain (`in` is a fast scan).
    """
    text = _mask_private_keys(text)
    if "://" in text:
        text = _URL_CREDENTIALS.sub(r"\1[credentials]@", text)
    for pattern, mask, needles in _TOKENS:
        if any(needle in text for needle in needles):
            text = pattern.sub(mask, text)
    if "bearer" in text.lower():
        text = _BEARER.sub("Bearer [token]", text)
    if ":" in text or "=" in text:
        text = _mask_secret_fields(text)
    text = _AWS_SECRET.sub(_aws_secret, text)
    if "@" in text:
        text = _EMAIL.sub(_email, text)
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
    """`value` with `scrub` applied to every string inside it (keys included), lone surrogates replaced first."""
    if isinstance(value, str):
        return scrub(clean_text(value))
    if isinstance(value, dict):
        return {scrub(clean_text(str(k))): scrub_value(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(v, scrub) for v in value]
    return value
