from __future__ import annotations

from pathlib import Path

import pytest

GUESTS = Path(__file__).resolve().parents[2] / "guests"


@pytest.fixture
def guest() -> object:
    """Path of a committed guest fixture by name: guest("dup_signal")."""

    def path(name: str) -> Path:
        return GUESTS / "bin" / f"{name}.elf"

    return path
