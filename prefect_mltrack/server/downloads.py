"""How artifact files are handed to browsers: a content type that never renders active content,
and headers that make every file a download.

Used by the artifact proxy and the web UI's preview and download routes. Text of any kind (HTML,
SVG, XML and JavaScript included) is ``text/plain``: shown as source, never run in our origin.

Example:
    >>> safe_content_type("page.html"), safe_content_type("plot.png")
    ('text/plain; charset=utf-8', 'image/png')
"""

from __future__ import annotations

import posixpath
import re
from typing import Final
from urllib.parse import quote

_TEXT: Final = "text/plain; charset=utf-8"
_IMAGE_TYPES: Final = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                       ".webp": "image/webp"}  # fmt: skip
# What a download may be served as (documented in the OpenAPI document).
DOWNLOAD_CONTENT: Final = {
    media_type: {"schema": {"type": "string", "format": "binary"}}
    for media_type in (
        "application/octet-stream",
        "text/plain",
        "application/json",
        *sorted(set(_IMAGE_TYPES.values())),
    )
}
# Markup and scripts are served as plain text too: shown as source, never run in our origin.
_TEXT_SUFFIXES: Final = frozenset(
    {".txt", ".log", ".csv", ".tsv", ".md", ".markdown", ".rst", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf",
     ".py", ".r", ".sql", ".sh", ".jsonl", ".ndjson", ".html", ".htm", ".xhtml", ".svg", ".xml", ".js", ".mjs", ".css"}
)  # fmt: skip
_TEXT_NAMES: Final = frozenset({"MLmodel", "MLproject", "LICENSE", "README", "Dockerfile"})
# RFC 5987 attr-char beyond what quote() always keeps.
_ATTR_CHARS: Final = "!#$&+-.^_`|~"
_UNSAFE_FALLBACK: Final = re.compile(r'[^\x20-\x7e]|["\\%]')


def safe_content_type(filename: str) -> str:
    """A ``Content-Type`` for serving ``filename`` that no browser renders as a page.

    Text (including HTML, SVG, XML and JavaScript, shown as source) is ``text/plain; charset=utf-8``;
    PNG, JPEG, GIF and WebP images keep their type; ``.json`` is ``application/json``; anything
    else is ``application/octet-stream``.

    Example:
        >>> safe_content_type("report.html"), safe_content_type("MLmodel")
        ('text/plain; charset=utf-8', 'text/plain; charset=utf-8')
        >>> safe_content_type("loss.PNG"), safe_content_type("model.pkl")
        ('image/png', 'application/octet-stream')
    """
    suffix = posixpath.splitext(filename)[1].lower()
    if suffix in _TEXT_SUFFIXES or filename in _TEXT_NAMES:
        return _TEXT
    if suffix == ".json":
        return "application/json"
    return _IMAGE_TYPES.get(suffix, "application/octet-stream")


def content_disposition(filename: str) -> str:
    """``Content-Disposition: attachment`` for ``filename`` (RFC 6266, ``filename*`` when needed).

    Example:
        >>> content_disposition("model.pkl")
        'attachment; filename="model.pkl"'
        >>> content_disposition("résumé.txt")
        'attachment; filename="r_sum_.txt"; filename*=UTF-8\\'\\'r%C3%A9sum%C3%A9.txt'
    """
    fallback = _UNSAFE_FALLBACK.sub("_", filename)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe=_ATTR_CHARS)}"


def download_headers(clean: str) -> dict[str, str]:
    name = posixpath.basename(clean)
    return {
        "content-disposition": content_disposition(name),
        "x-content-type-options": "nosniff",
        # Even if a browser is talked into rendering the body, it runs nothing and loads nothing.
        "content-security-policy": "default-src 'none'; sandbox",
    }
