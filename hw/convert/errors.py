"""The converter's one error type (its own module: checks.py and rewrite.py both raise it)."""

from __future__ import annotations


class UnsupportedModelError(ValueError):
    """Raised before any C++ is written; lists every offending layer and what to use instead."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = [f"  - {layer}: {why}" for layer, why in problems]
        super().__init__("model cannot be converted bit-exactly:\n" + "\n".join(lines))
