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
