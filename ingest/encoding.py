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

Every check reads the bytes as a stream of chunks, so a file of any size is judged in memory
that does not grow with it: the loader feeds the UTF-8 check from the pass that also hashes the
file, and reads the file again only when it is not UTF-8 (rare, small CRM exports).
"""

from __future__ import annotations

import codecs
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain

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


Chunks = Callable[[], Iterable[bytes]]
"""Opens the bytes of a file afresh, as an iterable of chunks."""


class Utf8Check:
    """Whether a stream of chunks is UTF-8 text (and not UTF-16), fed one chunk at a time."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._fed = 0
        self.error: tuple[int, str, str] | None = None
        """(offset, the byte in hex, reason) of the first byte that is not UTF-8."""
        self.nul: int | None = None
        """Offset of the first NUL byte."""
        self.utf16_bom = False

    def feed(self, chunk: bytes, final: bool = False) -> None:
        """Check the next ``chunk``; ``final`` after the last one."""
        if self._fed == 0 and chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self.utf16_bom = True
        if self.nul is None and (nul := chunk.find(b"\x00")) >= 0:
            self.nul = self._fed + nul
        pending = len(self._decoder.getstate()[0])
        # ASCII is UTF-8: most chunks of most files need no decoding.
        if self.error is None and (pending or final or not chunk.isascii()):
            try:
                self._decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                offset = self._fed - pending + exc.start
                self.error = (offset, exc.object[exc.start : exc.start + 1].hex(), exc.reason)
        self._fed += len(chunk)

    def refuse_utf16(self) -> None:
        """Raise EncodingError when the bytes look like UTF-16 (or binary)."""
        if self.utf16_bom:
            raise EncodingError(
                "looks like UTF-16 (it starts with a UTF-16 byte-order mark), which is not "
                "accepted",
                0,
            )
        if self.nul is not None:
            raise EncodingError(
                f"looks like UTF-16 (NUL bytes, the first at byte {self.nul}) or binary, which "
                "is not accepted",
                self.nul,
            )


class _NotDecodable(Exception):
    def __init__(self, offset: int, byte: str) -> None:
        self.offset, self.byte = offset, byte


def _decodes(encoding: str, chunks: Iterable[bytes]) -> Iterable[str]:
    """The text of ``chunks`` in ``encoding``, chunk by chunk. Raises _NotDecodable with the
    offset (in the whole stream) and hex of the first byte that is not ``encoding``."""
    decoder = codecs.getincrementaldecoder(encoding)()
    fed = 0
    for chunk in chain((c for c in chunks if c), (b"",)):
        pending = len(decoder.getstate()[0])
        try:
            yield decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            byte = exc.object[exc.start : exc.start + 1].hex()
            raise _NotDecodable(fed - pending + exc.start, byte) from None
        fed += len(chunk)


def _reads_as_chinese(texts: Iterable[str]) -> bool:
    """True when the text has no control or private-use characters and nearly all of its
    non-ASCII characters are common (GB2312) ones."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(ch for ch in text if ord(ch) > 127)
        controls = set(text) - _ALLOWED_CONTROLS
        if any(unicodedata.category(ch) in {"Cc", "Co", "Cn", "Cs"} for ch in controls):
            return False
    common = sum(n for ch, n in counts.items() if _in_gb2312(ch))
    return common >= MIN_COMMON_SHARE * counts.total()


def _looks_like_shift_jis(chunks: Iterable[bytes]) -> bool:
    """True when the bytes are valid Shift-JIS holding Japanese kana. Chinese GBK text is almost
    never valid strict Shift-JIS (its trail bytes fall outside Shift-JIS's ranges)."""
    kana = False
    try:
        for text in _decodes("shift_jis", chunks):
            kana = kana or any(
                "\u3040" <= ch <= "\u30ff" or "\uff61" <= ch <= "\uff9f" for ch in text
            )
    except _NotDecodable:
        return False
    return kana


def not_utf8_encoding(check: Utf8Check, chunks: Chunks) -> str:
    """The encoding of bytes that ``check`` found not to be UTF-8: GBK when they decode cleanly
    as GB18030 and read as Chinese text. Reads ``chunks()`` again (twice at most).

    Raises EncodingError otherwise, with the offset of the byte at fault (see :func:`decode`)."""
    check.refuse_utf16()
    assert check.error is not None
    offset, byte, reason = check.error
    if _looks_like_shift_jis(chunks()):
        raise EncodingError(
            f"not valid UTF-8 at byte {offset}, and looks like Japanese Shift-JIS (it decodes as "
            "Shift-JIS with kana), which is not accepted",
            offset,
        )
    utf8 = f"not valid UTF-8 at byte {offset} (0x{byte}: {reason})"
    try:
        chinese = _reads_as_chinese(_decodes(GBK, chunks()))
    except _NotDecodable as exc:
        raise EncodingError(
            f"{utf8} and not valid GBK at byte {exc.offset} (0x{exc.byte}) either", exc.offset
        ) from None
    if not chinese:
        raise EncodingError(f"{utf8} and not Chinese text in GBK either", offset)
    return GBK


def decode(data: bytes) -> Decoded:
    """The text of a delivered file: UTF-8 (a byte-order mark is dropped), else GBK when the
    bytes decode cleanly as GB18030 and read as Chinese text.

    Raises EncodingError, with the offset of the byte at fault, otherwise: for UTF-16 (NUL
    bytes, which no text export holds, or a UTF-16 byte-order mark) and for Japanese Shift-JIS
    the message says so."""
    check = Utf8Check()
    check.feed(data, final=True)
    check.refuse_utf16()
    if check.error is None:
        return Decoded(data.decode("utf-8-sig"), UTF8)
    encoding = not_utf8_encoding(check, lambda: (data,))
    return Decoded(data.decode(encoding), encoding)
