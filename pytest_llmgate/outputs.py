"""What a judge and a human label see of an output: its text, and the hash of that text.

Below the recorder, the run and the judge alike, so every layer names an output the same way.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pytest_llmgate._files import utf8


def output_text(output: Any) -> str:
    """The text a judge sees for an output: the `answer` of a dict-like output, else its JSON."""
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and isinstance(output.get("answer"), str):
        return output["answer"]
    return json.dumps(output, sort_keys=True, ensure_ascii=False, default=str)


def content_hash(value: Any) -> str:
    """sha256 of an output's judged text: human labels apply to exactly that output."""
    return hashlib.sha256(utf8(output_text(value))).hexdigest()


def display_text(value: Any) -> str:
    """A value as a person reads it in a page: text as is, nothing as "", anything else as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
