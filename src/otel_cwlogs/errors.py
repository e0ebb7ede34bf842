"""Exceptions the package raises (only ever at construction)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting has a value the package cannot work with.

    The message names the setting (the keyword argument, or the environment variable it was
    read from), the value, and what is accepted.
    """

    def __init__(self, setting: str, value: object, reason: str) -> None:
        self.setting = setting
        self.value = value
        self.reason = reason
        super().__init__(f"otel_cwlogs: {setting}={value!r} is invalid: {reason}")
