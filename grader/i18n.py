"""The language the kit speaks: English or Chinese, and its program strings.

Program strings are marked with `_()` (and `ngettext` where English has a plural) and
looked up in the gettext catalog `locale/<lang>/LC_MESSAGES/resnet_kata.mo` through the
standard library. A string the catalog lacks comes back in English. The language is,
in order: `--lang`, $RESNET_KATA_LANG, the locale ($LC_ALL, $LC_MESSAGES, $LANG,
$LANGUAGE: any `zh*` means Chinese), else English.

Maintainers regenerate the catalog with Babel (see CONTRIBUTING.md):
    pybabel extract -F grader/locale/babel.cfg -k N_ -o grader/locale/resnet_kata.pot grader
    pybabel update -i grader/locale/resnet_kata.pot -d grader/locale -D resnet_kata
    pybabel compile -d grader/locale -D resnet_kata
"""

from __future__ import annotations

import gettext
import os
import re
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "resnet_kata"
LOCALEDIR = Path(__file__).resolve().parent / "locale"
ENV = "RESNET_KATA_LANG"
LANGUAGES = ("en", "zh")
NAMES = {"en": "English", "zh": "中文 (Chinese)"}
_LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")  # GNU gettext's order

_lang = "en"
_catalog: gettext.NullTranslations = gettext.NullTranslations()


class LanguageError(ValueError):
    """A language the kit does not speak."""


def normalise(value: str) -> str | None:
    """'zh', 'zh_CN.UTF-8', 'zh-Hans', 'en_US' -> 'zh' / 'en'; anything else -> None."""
    code = value.strip().lower().replace("-", "_").split(".")[0].split("_")[0]
    return code if code in LANGUAGES else None


def detect(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The language to speak: `explicit` (a --lang value), the kit's variable, the locale."""
    env = os.environ if environ is None else environ
    if explicit:
        lang = normalise(explicit)
        if lang is None:
            raise LanguageError(f"unknown language {explicit!r}: use one of {', '.join(LANGUAGES)}")
        return lang
    if env.get(ENV):
        lang = normalise(env[ENV])
        if lang is None:
            raise LanguageError(f"${ENV}={env[ENV]!r} is not a language the kit speaks: "
                                f"use one of {', '.join(LANGUAGES)}")
        return lang
    for var in _LOCALE_VARS:
        value = env.get(var, "")
        if value and value not in ("C", "POSIX"):
            # LANGUAGE may list several, colon-separated: the first one the kit speaks wins
            for part in value.split(":"):
                if normalise(part):
                    return normalise(part) or "en"
            return "en"
    return "en"


def set_language(lang: str) -> None:
    """Speak `lang` ('en' or 'zh') from now on, in this process."""
    global _lang, _catalog
    lang = normalise(lang) or "en"
    _lang = lang
    _catalog = (gettext.NullTranslations() if lang == "en" else
                gettext.translation(DOMAIN, LOCALEDIR, languages=[lang], fallback=True))


def language() -> str:
    return _lang


def _(message: str) -> str:
    """`message` in the current language (English when the catalog has no translation)."""
    return _catalog.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalog.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for the catalog where it is defined; `_()` translates it where shown."""
    return message


_MARK = "\u3000-\u303f\uff00-\uffef"  # full-width punctuation
_HAN = "\u4e00-\u9fff"
# a space after a full-width mark, or between two Chinese characters: where a Chinese
# sentence meets a piece put in with a space ("。 与这个错误一致", "应为 含 2 个")
_LOOSE = re.compile(f"(?<=[{_MARK}]) +|(?<=[{_HAN}]) +(?=[{_HAN}{_MARK}])")
_CODE = re.compile(r"(`[^`\n]*`)")


def tidy(message: str) -> str:
    """A Chinese message without the spaces its assembled pieces leave between Chinese
    characters; inline code and indented lines (the learner's code) are left as they are.
    English text is returned unchanged."""
    if _lang != "zh":
        return message
    lines = []
    for line in message.split("\n"):
        if not line.startswith("    "):
            line = "".join(part if part.startswith("`") else _LOOSE.sub("", part)
                           for part in _CODE.split(line))
        lines.append(line)
    return "\n".join(lines)


def pick(english: str, translations: Mapping[str, str] | None) -> str:
    """A manifest's text in the current language: its translation, else the English."""
    if _lang != "en" and translations:
        return translations.get(_lang) or english
    return english
