"""Which preview a file gets: by its extension, and by its first bytes where that is cheap."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a file is shown as; OFFICE is shown as "pdf" once converted."""

    IMAGE = "image"
    PDF = "pdf"
    OFFICE = "office"
    TEXT = "text"
    MARKDOWN = "markdown"
    NONE = "none"


BROWSER_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
                       "gif": "image/gif", "webp": "image/webp"}
"""Image formats every browser shows as they are."""
CONVERTED_IMAGE_EXTENSIONS = frozenset({"bmp", "tif", "tiff", "ico", "ppm", "pgm", "pbm",
                                        "tga", "pcx", "jfif"})
OFFICE_EXTENSIONS = frozenset({"doc", "docx", "odt", "rtf", "xls", "xlsx", "ods", "ppt",
                               "pptx", "odp"})
MARKDOWN_EXTENSIONS = frozenset({"md", "markdown", "mdown", "mkd"})
BINARY_EXTENSIONS = frozenset({"zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar",
                               "iso", "img", "exe", "dll", "so", "bin", "mp3", "mp4", "m4a",
                               "mkv", "mov", "avi", "wav", "flac", "ogg", "webm", "svg",
                               "heic", "psd", "sqlite", "db"})
"""Never sniffed (svg is script-capable, so it is never previewed inline)."""
SNIFF_BYTES = 8192

_MAGIC = ((b"%PDF-", Kind.PDF), (b"\x89PNG\r\n\x1a\n", Kind.IMAGE), (b"\xff\xd8\xff", Kind.IMAGE),
          (b"GIF87a", Kind.IMAGE), (b"GIF89a", Kind.IMAGE))


def extension(name: str) -> str:
    """The lower-case extension without the dot ('' if none)."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def kind_by_name(name: str) -> Kind | None:
    """The kind the extension settles, or None when the first bytes must decide."""
    ext = extension(name)
    if ext in BROWSER_IMAGE_TYPES or ext in CONVERTED_IMAGE_EXTENSIONS:
        return Kind.IMAGE
    if ext == "pdf":
        return Kind.PDF
    if ext in OFFICE_EXTENSIONS:
        return Kind.OFFICE
    if ext in MARKDOWN_EXTENSIONS:
        return Kind.MARKDOWN
    if ext in BINARY_EXTENSIONS:
        return Kind.NONE
    return None


def looks_like_text(head: bytes) -> bool:
    """No NUL byte and valid UTF-8 (a character cut at the end of `head` is fine)."""
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def kind_by_content(head: bytes) -> Kind:
    """The kind the first bytes show: a PDF/image signature, text, or nothing we can show."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Kind.IMAGE
    return Kind.TEXT if looks_like_text(head[:SNIFF_BYTES]) else Kind.NONE


def browser_media_type(name: str) -> str | None:
    """The media type of an image browsers show as is, else None (convert it to PNG)."""
    return BROWSER_IMAGE_TYPES.get(extension(name))
