"""Translation catalogues: one JSON file per language, English message -> translation.

The packaged catalogues live in `web/locales/`; a school adds or overrides messages (or whole
languages) with files of the same shape in the directory named by STUDYHALL_WEB_LOCALES_DIR.
A message missing from a catalogue shows in English.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

PACKAGED = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})


def _read_dir(directory: Path, catalogues: dict[str, dict[str, str]]) -> None:
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a catalogue is a JSON object of message -> translation")
        language = path.stem.lower()
        catalogues.setdefault(language, {}).update(
            {str(k): str(v) for k, v in data.items() if isinstance(v, str) and v}
        )


@lru_cache(maxsize=8)
def catalogues(extra_dir: str | None = None) -> dict[str, dict[str, str]]:
    """Every language's messages: the packaged ones, then the school's on top."""
    result: dict[str, dict[str, str]] = {}
    _read_dir(PACKAGED, result)
    if extra_dir:
        _read_dir(Path(extra_dir), result)
    result.setdefault(DEFAULT_LANGUAGE, {})
    return result


def languages(extra_dir: str | None = None) -> list[str]:
    return sorted(catalogues(extra_dir))


def pick_language(
    wanted: list[str | None], accept_language: str | None, extra_dir: str | None = None
) -> str:
    """The first supported language among the explicit choices, then the browser's list."""
    available = catalogues(extra_dir)
    for choice in wanted:
        if choice and choice.lower().split("-")[0] in available:
            return choice.lower().split("-")[0]
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower().split("-")[0]
        if code in available:
            return code
    return DEFAULT_LANGUAGE


def translator(language: str, extra_dir: str | None = None) -> Callable[..., str]:
    """`t("Welcome, {name}", name=...)`: the translation (or the English text), then formatted."""
    messages = catalogues(extra_dir).get(language, {})

    def t(message: str, **values: object) -> str:
        text = messages.get(message, message)
        return text.format(**values) if values else text

    return t


def direction(language: str) -> str:
    return "rtl" if language in RTL_LANGUAGES else "ltr"
