"""Normalising and hashing identifiers the way ad platforms take them."""

import pandas as pd
import pytest

from activation.destinations.formats import GOOGLE_ADS, META_ADS, ad_hashes
from activation.destinations.identifiers import (
    google_email,
    hashed,
    normalise_email,
    normalise_phone,
    sha256_hex,
    wechat_handle,
)


def test_sha256_matches_published_vectors():
    # FIPS 180-2 test vector, and TikTok's published customer-file example (normalised e-mail).
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (
        sha256_hex(normalise_email("  JaneDoe@Gmail.com "))
        == "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Customer.7@Example.COM ", "customer.7@example.com"),
        ("a@b.cn", "a@b.cn"),
        ("", None),
        ("   ", None),
        ("no-at-sign", None),
        (None, None),
    ],
)
def test_email_is_trimmed_and_lower_cased(raw, expected):
    assert normalise_email(raw) == expected


def test_google_drops_dots_before_gmail_only():
    assert google_email(" Jane.Doe@GMAIL.com") == "janedoe@gmail.com"
    assert google_email("jane.doe@googlemail.com") == "janedoe@googlemail.com"
    assert google_email("jane.doe@qq.com") == "jane.doe@qq.com"


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "138-1234-5678",
        "138 1234 5678",
        "+86 138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "0086 13812345678",
        "8613812345678",
        " (138) 1234-5678 ",
    ],
)
def test_crm_phone_styles_become_e164(raw):
    assert normalise_phone(raw) == "+8613812345678"


def test_other_countries_and_bad_numbers():
    assert normalise_phone("+1 (650) 555-1234") == "+16505551234"
    assert normalise_phone("0044 20 7946 0958") == "+442079460958"
    assert normalise_phone("1381234567") is None  # a mobile one digit short
    assert normalise_phone("call me") is None
    assert normalise_phone(None) is None


def test_wechat_handle_from_social_handles():
    assert wechat_handle("weibo:wb_1; wechat:wx_abc ;xiaohongshu:x") == "wx_abc"
    assert wechat_handle("weibo:wb_1") is None
    assert wechat_handle("wechat:") is None
    assert wechat_handle(None) is None


def test_ad_formats_hash_their_own_normal_form():
    members = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "ad_email": ["jane.doe@gmail.com", None],
            "ad_phone": ["+8613812345678", "+8613812345679"],
        }
    )
    google = ad_hashes(GOOGLE_ADS, members)
    meta = ad_hashes(META_ADS, members)
    assert google.loc[0, "Email"] == sha256_hex("janedoe@gmail.com")
    assert meta.loc[0, "email"] == sha256_hex("jane.doe@gmail.com")
    assert google.loc[0, "Phone"] == sha256_hex("+8613812345678")
    assert meta.loc[0, "phone"] == sha256_hex("8613812345678")
    assert pd.isna(google.loc[1, "Email"]) and pd.isna(meta.loc[1, "email"])
    assert all(len(h) == 64 for h in [*google["Phone"], *meta["phone"]])


def test_hashed_column_is_sha256_hex_of_each_text_value():
    values = pd.Series(
        ["abc", "张伟@例子.中国", "", "Zoë😀", " +86 138 ", None, float("nan"), 7],
        index=range(10, 18),
    )
    digests = hashed(values)
    assert list(digests.index) == list(values.index) and digests.dtype == object
    expected = [sha256_hex(v) if isinstance(v, str) else None for v in values]
    assert digests.tolist() == expected
    assert hashed(pd.Series([], dtype=object)).empty
