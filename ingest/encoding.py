"""Which text encoding a delivered file is in: UTF-8, or GBK from a Chinese system's export.

Chinese CRMs and Excel on Chinese Windows export GBK by default. GB18030 (a superset of GBK)
decodes many byte sequences that are not Chinese at all: a Latin-1 "Müller" decodes to a
plausible-looking but wrong character. So a file is only taken as GBK when its text also looks
like Chinese: no control or private-use characters, and nearly all of its non-ASCII characters
among the GB2312 set (the 7,445 common characters and symbols; GBK adds rarer ones, which occur
in names, so a few are allowed). Anything else is refused rather than loaded as mojibake, and
the refusal says what the bytes look like when that is clear: UTF-16 (NUL bytes or its
byte-order mark) or Japanese Shift-JIS (whose half-width katakana also decode as plausible
GB18030 Chinese).
"""

from __future__ import annotations

import codecs
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
    """The bytes are neither UTF-8 nor Chinese text in GBK; ``offset`` is the byte at fault:
    the first byte that is not GBK when the file fails as GBK too, else the first that is not
    UTF-8."""

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


def _looks_like_shift_jis(data: bytes) -> bool:
    """True when the bytes are valid Shift-JIS holding Japanese kana. Chinese GBK text is almost
    never valid strict Shift-JIS (its trail bytes fall outside Shift-JIS's ranges)."""
    try:
        text = data.decode("shift_jis")
    except UnicodeDecodeError:
        return False
    return any("\u3040" <= ch <= "\u30ff" or "\uff61" <= ch <= "\uff9f" for ch in text)


def _refuse_utf16(data: bytes) -> None:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise EncodingError(
            "looks like UTF-16 (it starts with a UTF-16 byte-order mark), which is not accepted",
            0,
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise EncodingError(
            f"looks like UTF-16 (NUL bytes, the first at byte {nul}) or binary, which is not "
            "accepted",
            nul,
        )


def decode(data: bytes) -> Decoded:
    """The text of a delivered file: UTF-8 (a byte-order mark is dropped), else GBK when the
    bytes decode cleanly as GB18030 and read as Chinese text.

    Raises EncodingError, with the offset of the byte at fault, otherwise: for UTF-16 (NUL
    bytes, which no text export holds, or a UTF-16 byte-order mark) and for Japanese Shift-JIS
    the message says so."""
    _refuse_utf16(data)
    try:
        return Decoded(data.decode("utf-8-sig"), UTF8)
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        first_error = exc
    if _looks_like_shift_jis(data):
        raise EncodingError(
            f"not valid UTF-8 at byte {offset}, and looks like Japanese Shift-JIS (it decodes as "
            "Shift-JIS with kana), which is not accepted",
            offset,
        )
    try:
        text = data.decode(GBK)
    except UnicodeDecodeError as exc:
        text = None
        gbk_error = exc
    if text is not None and _reads_as_chinese(text):
        return Decoded(text, GBK)
    byte = data[offset : offset + 1].hex()
    utf8 = f"not valid UTF-8 at byte {offset} (0x{byte}: {first_error.reason})"
    if text is not None:
        raise EncodingError(f"{utf8} and not Chinese text in GBK either", offset)
    bad = gbk_error.start
    raise EncodingError(
        f"{utf8} and not valid GBK at byte {bad} (0x{data[bad : bad + 1].hex()}) either", bad
    )
