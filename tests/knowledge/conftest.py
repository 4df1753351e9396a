"""Fixtures for the knowledge tests: the shared real documents and a few built ones."""

from __future__ import annotations

from pathlib import Path

import pytest

# ../shared/data next to the repository (CI always has it; a user's checkout may not).
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder, or a skip that says where it was looked for."""
    if not DATA.is_dir():
        pytest.skip(f"shared test data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def pdf_dir(data_dir: Path) -> Path:
    """The shared real PDFs."""
    path = data_dir / "pdfs"
    if not path.is_dir():
        pytest.skip(f"shared PDFs not found at {path}")
    return path
