"""Credentials never written: what a URL with user info (`http://user:password@host/v1`) shows.

A judge's base URL may carry a password or a token; results, reports, markdown, comments and
logs show it without its user info (the judge's identity in fingerprints is `provider:model`).
"""

from __future__ import annotations

import re

# scheme://userinfo@ : userinfo stops at the first '/', '?', '#', whitespace or quote, so an
# e-mail address or a path with '@' is left alone.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s\"'<>]+@")


def without_credentials(text: str) -> str:
    """`text` with the user info of every URL in it removed."""
    return _USERINFO.sub(r"\1", text) if "@" in text else text


def provider_model(judge: str | None) -> str | None:
    """A judge (or a jury, joined by " + ") as reports name it: `provider:model`, never its server URL
    (results written before fingerprints dropped the URL still carry it)."""
    if judge is None:
        return None
    return " + ".join(part.split("@", 1)[0] if "@" in part else part for part in judge.split(" + "))
