"""Checks for component args: a bad arg is a ConfigError carrying the arg's name, never a parsed message."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from handler.settings import ConfigError


class ArgError(ConfigError):
    """A ConfigError about a component arg that is not a handler setting (`field` is the arg's name)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        # ConfigError's own text starts with the handler's variable, which an arg does not have.
        ValueError.__init__(self, f"{field} {message}")


def between(field: str, value: int | float, low: float, high: float) -> None:
    """Refuse `value` outside [low, high]."""
    if not low <= value <= high:
        raise ArgError(field, f"must be between {low} and {high}, got {value}")


def one_of(field: str, value: Any, choices: Collection[Any]) -> None:
    """Refuse `value` unless it is one of `choices`."""
    if value not in choices:
        raise ArgError(field, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
