"""The one exception type for input that gradcheck refuses."""

from __future__ import annotations

from .results import Category


class InputError(ValueError):
    """User input that cannot be checked: it does not parse, breaks a limit, or is incomplete.

    ``category`` is one of :data:`~gradcheck_cli.results.INPUT_CATEGORIES` (``parse_error``,
    ``limit``, ...); ``message`` is one human sentence; ``text`` and ``column``
    (1-based), when known, locate the problem so that a caret can point at it.
    """

    def __init__(
        self,
        category: Category,
        message: str,
        *,
        text: str | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.text = text
        self.column = column

    def __str__(self) -> str:
        return self.message
