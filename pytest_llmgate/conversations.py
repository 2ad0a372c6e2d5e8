"""Conversations: a case's `input` as a list of `{"role", "content"}` messages.

A multi-turn case holds the conversation so far; the system under test receives it and
produces the next assistant turn. Checks address a turn with `last_assistant` / `last_user`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Message", "Role", "as_turns", "last_assistant", "last_user", "transcript"]

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    """Who speaks: `system`, `user`, `assistant` or `tool`."""
    content: str = Field(min_length=1)
    """What was said (plain text; must not be empty)."""


def _role_content(item: Any, index: int) -> tuple[str, str]:
    if isinstance(item, Message):
        return item.role, item.content
    if isinstance(item, dict):
        role, content = item.get("role"), item.get("content")
    else:
        role, content = getattr(item, "role", None), getattr(item, "content", None)
    if not isinstance(role, str) or not isinstance(content, str):
        msg = f"message {index} must have a string 'role' and a string 'content' (got {item!r:.80})."
        raise TypeError(msg)
    return role, content


def as_turns(value: Any) -> list[tuple[str, str]] | None:
    """`(role, content)` pairs when `value` is a conversation (a list of messages), else None."""
    if isinstance(value, str | bytes | dict) or not isinstance(value, Sequence) or not value:
        return None
    first = value[0]
    if not (isinstance(first, Message) or (isinstance(first, dict) and "role" in first)):
        return None
    return [_role_content(item, index) for index, item in enumerate(value)]


def transcript(value: Any) -> str | None:
    """A conversation as a person reads it, one `role: content` paragraph per turn; None when
    `value` is not a conversation."""
    turns = as_turns(value)
    if turns is None:
        return None
    return "\n\n".join(f"{role}: {content}" for role, content in turns)


def _messages(conversation: Any) -> list[tuple[str, str]]:
    if isinstance(conversation, dict) and "messages" in conversation:
        conversation = conversation["messages"]
    turns = as_turns(conversation)
    if turns is None:
        msg = (
            "expected a conversation: a list of {'role', 'content'} messages, or a dict with 'messages' "
            f"(got {type(conversation).__name__})."
        )
        raise TypeError(msg)
    return turns


def _last(conversation: Any, role: str) -> str:
    __tracebackhide__ = True
    for turn_role, content in reversed(_messages(conversation)):
        if turn_role == role:
            return content
    from pytest_llmgate.checks import CheckFailed

    msg = f"the conversation has no {role} turn ({len(_messages(conversation))} messages)."
    raise CheckFailed(msg)


def last_assistant(conversation: Any) -> str:
    """The content of the last assistant turn of a conversation (a list of messages, or a
    dict with `messages`); a conversation without one fails as a check."""
    __tracebackhide__ = True
    return _last(conversation, "assistant")


def last_user(conversation: Any) -> str:
    """The content of the last user turn; a conversation without one fails as a check."""
    __tracebackhide__ = True
    return _last(conversation, "user")
