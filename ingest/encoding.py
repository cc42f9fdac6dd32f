"""Which text encoding a delivered file is in: UTF-8, or GBK from a Chinese system's export.

Chinese CRMs and Excel on Chinese Windows export GBK by default. GB18030 (a superset of GBK)
decodes many byte sequences that are not Chinese at all: a Latin-1 "Müller" decodes to a
plausible-looking but wrong character. So a file is only taken as GBK when its text also looks
like Chinese: no control or private-use characters, and nearly all of its non-ASCII characters
among the GB2312 set (the 7,445 common characters and symbols; GBK adds rarer ones, which occur
in names, so a few are allowed). Anything else is refused rather than loaded as mojibake.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

UTF8 = "utf-8"
GBK = "gb18030"
"""Files recognised as GBK are decoded as GB18030, which holds every GBK character."""
MIN_COMMON_SHARE = 0.9
"""Share of a GBK file's non-ASCII characters that must be common (GB2312) characters."""
_ALLOWED_CONTROLS = {"\t", "\n", "\r"}


class EncodingError(ValueError):
    """The bytes are neither UTF-8 nor Chinese text in GBK; ``offset`` is the first byte that
    is not UTF-8."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    """``utf-8`` or ``gb18030``."""


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _reads_as_chinese(text: str) -> bool:
    if any(
        unicodedata.category(ch) in {"Cc", "Co", "Cn", "Cs"} for ch in set(text) - _ALLOWED_CONTROLS
    ):
        return False
    counts = Counter(ch for ch in text if ord(ch) > 127)
    common = sum(n for ch, n in counts.items() if _in_gb2312(ch))
    return common >= MIN_COMMON_SHARE * sum(counts.values())


def decode(data: bytes) -> Decoded:
    """The text of a delivered file: UTF-8 (a byte-order mark is dropped), else GBK when the
    bytes decode cleanly as GB18030 and read as Chinese text.

    Raises EncodingError, with the offset of the first byte that is not UTF-8, otherwise."""
    try:
        return Decoded(data.decode("utf-8-sig"), UTF8)
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        first_error = exc
    try:
        text = data.decode(GBK)
    except UnicodeDecodeError:
        text = None
    if text is not None and _reads_as_chinese(text):
        return Decoded(text, GBK)
    byte = data[offset : offset + 1].hex()
    raise EncodingError(
        f"not valid UTF-8 at byte {offset} (0x{byte}: {first_error.reason}) and not "
        "Chinese text in GBK either",
        offset,
    )
