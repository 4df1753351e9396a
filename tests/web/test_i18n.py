"""Translation catalogues: every message the pages show is translated, and a school can extend."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from studyhall.config import Settings
from studyhall.web import i18n

WEB = Path(i18n.__file__).parent
MESSAGE = re.compile(r"""\bt\(\s*(["'])(.+?)\1""", re.DOTALL)


def _messages() -> set[str]:
    found: set[str] = set()
    for path in [*WEB.glob("templates/**/*.html"), *WEB.glob("**/*.py")]:
        found |= {m.group(2) for m in MESSAGE.finditer(path.read_text(encoding="utf-8"))}
    return found


def test_every_message_is_translated_in_every_packaged_language() -> None:
    messages = _messages()
    assert len(messages) > 30
    catalogues = i18n.catalogues(None)
    assert {"en", "fr", "es", "ar"} <= set(catalogues)
    for language in ("fr", "es", "ar"):
        missing = sorted(messages - catalogues[language].keys())
        assert not missing, f"{language} lacks: {missing}"
        for message, text in catalogues[language].items():
            # A placeholder lost in translation would crash the page when it is formatted.
            assert set(re.findall(r"{(\w+)}", message)) == set(re.findall(r"{(\w+)}", text)), (
                language,
                message,
            )


async def test_a_school_adds_a_language_and_overrides_a_message(
    app: object, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "de.json").write_text(json.dumps({"Sign in": "Anmelden"}), encoding="utf-8")
    (tmp_path / "fr.json").write_text(json.dumps({"Sign in": "Connexion"}), encoding="utf-8")
    app.state.settings = settings.model_copy(update={"web_locales_dir": tmp_path})  # type: ignore[attr-defined]
    german = await client.get("/sign-in", headers={"Accept-Language": "de-DE"})
    assert 'lang="de"' in german.text and "Anmelden" in german.text
    french = await client.get("/sign-in", headers={"Accept-Language": "fr"})
    assert "Connexion" in french.text and "Mot de passe" in french.text
