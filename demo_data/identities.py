"""Who people are: names (mostly Chinese, some English), companies, cities, occupations, e-mails,
phones and social handles, and the messy ways the same e-mail or phone is typed elsewhere."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as col

SURNAMES = (
    ("王", "wang", 7.1),
    ("李", "li", 7.0),
    ("张", "zhang", 6.7),
    ("刘", "liu", 5.4),
    ("陈", "chen", 4.5),
    ("杨", "yang", 3.1),
    ("黄", "huang", 2.2),
    ("赵", "zhao", 2.0),
    ("吴", "wu", 1.8),
    ("周", "zhou", 1.7),
    ("徐", "xu", 1.3),
    ("孙", "sun", 1.2),
    ("马", "ma", 1.1),
    ("朱", "zhu", 1.1),
    ("胡", "hu", 1.0),
    ("郭", "guo", 1.0),
    ("何", "he", 0.9),
    ("林", "lin", 0.9),
    ("高", "gao", 0.9),
    ("罗", "luo", 0.8),
    ("郑", "zheng", 0.8),
    ("梁", "liang", 0.7),
    ("谢", "xie", 0.6),
    ("宋", "song", 0.6),
    ("唐", "tang", 0.6),
    ("许", "xu", 0.5),
    ("韩", "han", 0.5),
    ("冯", "feng", 0.5),
    ("邓", "deng", 0.5),
    ("曹", "cao", 0.5),
    ("彭", "peng", 0.4),
    ("曾", "zeng", 0.4),
    ("萧", "xiao", 0.4),
    ("田", "tian", 0.4),
    ("董", "dong", 0.4),
    ("潘", "pan", 0.3),
    ("袁", "yuan", 0.3),
    ("蔡", "cai", 0.3),
    ("蒋", "jiang", 0.3),
    ("欧阳", "ouyang", 0.1),
)
GIVEN_FEMALE = (
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("艳", "yan"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("琳", "lin"),
    ("颖", "ying"),
    ("欣", "xin"),
    ("怡", "yi"),
    ("佳", "jia"),
    ("梦", "meng"),
    ("晓", "xiao"),
    ("雨", "yu"),
    ("慧", "hui"),
    ("倩", "qian"),
    ("萱", "xuan"),
    ("玉", "yu"),
    ("霞", "xia"),
    ("梅", "mei"),
    ("月", "yue"),
    ("诗", "shi"),
)
GIVEN_MALE = (
    ("伟", "wei"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("浩", "hao"),
    ("鹏", "peng"),
    ("宇", "yu"),
    ("俊", "jun"),
    ("峰", "feng"),
    ("斌", "bin"),
    ("辉", "hui"),
    ("刚", "gang"),
    ("晨", "chen"),
    ("博", "bo"),
    ("文", "wen"),
    ("建", "jian"),
    ("志", "zhi"),
    ("天", "tian"),
)
ENGLISH_FEMALE = (
    "Emily",
    "Sarah",
    "Grace",
    "Lily",
    "Chloe",
    "Hannah",
    "Olivia",
    "Sophie",
    "Amy",
    "Cindy",
    "Vivian",
    "Iris",
)
ENGLISH_MALE = (
    "James",
    "David",
    "Michael",
    "Kevin",
    "Daniel",
    "Jason",
    "Eric",
    "Tony",
    "Leo",
    "Ryan",
    "Peter",
    "Frank",
)
ENGLISH_SURNAMES = (
    "Smith",
    "Brown",
    "Wilson",
    "Taylor",
    "Lee",
    "Chan",
    "Wong",
    "Miller",
    "Walker",
    "Clarke",
    "Young",
    "Evans",
)

# (city, province or municipality, weight)
CITIES = (
    ("上海", "上海", 9),
    ("北京", "北京", 9),
    ("广州", "广东", 6),
    ("深圳", "广东", 7),
    ("杭州", "浙江", 6),
    ("成都", "四川", 5),
    ("重庆", "重庆", 4),
    ("武汉", "湖北", 4),
    ("南京", "江苏", 4),
    ("苏州", "江苏", 4),
    ("西安", "陕西", 3),
    ("天津", "天津", 3),
    ("长沙", "湖南", 3),
    ("郑州", "河南", 3),
    ("东莞", "广东", 2),
    ("青岛", "山东", 2),
    ("宁波", "浙江", 2),
    ("合肥", "安徽", 2),
    ("佛山", "广东", 2),
    ("厦门", "福建", 2),
    ("福州", "福建", 2),
    ("济南", "山东", 2),
    ("昆明", "云南", 2),
    ("沈阳", "辽宁", 2),
    ("大连", "辽宁", 1),
    ("无锡", "江苏", 1),
    ("南昌", "江西", 1),
    ("贵阳", "贵州", 1),
    ("南宁", "广西", 1),
    ("哈尔滨", "黑龙江", 1),
    ("石家庄", "河北", 1),
    ("太原", "山西", 1),
    ("长春", "吉林", 1),
    ("兰州", "甘肃", 0.5),
    ("海口", "海南", 0.5),
    ("乌鲁木齐", "新疆", 0.5),
)
OCCUPATIONS = (
    "教师",
    "工程师",
    "医生",
    "护士",
    "程序员",
    "设计师",
    "会计",
    "销售",
    "公务员",
    "学生",
    "自由职业",
    "个体经营",
    "律师",
    "全职妈妈",
    "退休",
    "运营",
)
OCCUPATION_WEIGHTS = (8, 10, 4, 4, 9, 5, 6, 9, 5, 7, 6, 6, 2, 5, 4, 6)
# (industry, the word a company name uses for it, the English word)
INDUSTRIES = (
    ("零售", "商贸", "Trading"),
    ("餐饮", "餐饮管理", "Catering"),
    ("制造业", "制造", "Manufacturing"),
    ("教育", "教育科技", "Education"),
    ("IT服务", "信息技术", "Technology"),
    ("物流", "供应链", "Logistics"),
    ("医疗", "医疗器械", "Medical"),
    ("酒店", "酒店管理", "Hospitality"),
)
COMPANY_WORDS = (
    ("华信", "huaxin"),
    ("恒达", "hengda"),
    ("嘉禾", "jiahe"),
    ("瑞丰", "ruifeng"),
    ("中正", "zhongzheng"),
    ("鼎盛", "dingsheng"),
    ("天成", "tiancheng"),
    ("新锐", "xinrui"),
    ("博远", "boyuan"),
    ("金桥", "jinqiao"),
    ("启明", "qiming"),
    ("汇通", "huitong"),
)
COMPANY_WORDS_EN = (
    "Bright Harbor",
    "Golden Bridge",
    "Silver Peak",
    "Blue River",
    "Eastwind",
    "Jade Gate",
)
EMAIL_DOMAINS = (
    "qq.com",
    "163.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "sina.com",
    "foxmail.com",
    "hotmail.com",
)
EMAIL_DOMAIN_WEIGHTS = (35, 20, 8, 9, 7, 5, 5, 3)
# Real typos that no normalisation can undo.
DOMAIN_TYPOS = {
    "qq.com": "qq.con",
    "163.com": "163.cm",
    "126.com": "162.com",
    "gmail.com": "gmial.com",
    "outlook.com": "outlok.com",
    "sina.com": "sian.com",
    "foxmail.com": "foxmial.com",
    "hotmail.com": "hotmai.com",
}
MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        156,
        157,
        158,
        159,
        166,
        177,
        180,
        181,
        182,
        183,
        185,
        186,
        187,
        188,
        189,
        198,
        199,
    ]
)
SOCIAL_PLATFORMS = ("wechat", "xiaohongshu", "weibo")

PHONE_STYLES = (
    "13812345678",
    "138-1234-5678",
    "+86 138-1234-5678",
    "0086 13812345678",
    "138 1234 5678",
    "+8613812345678",
)
"""How the phone formats of `format_phones` look, by style index."""


def person_names(
    rng: np.random.Generator, female: np.ndarray, english: np.ndarray
) -> tuple[pa.Array, pa.Array]:
    """Names and an ASCII romanisation (pinyin, or ``first.last``) for e-mails and handles."""
    n = len(female)
    surname = col.weighted_choice(rng, [s[2] for s in SURNAMES], n)
    given1 = rng.integers(0, len(GIVEN_FEMALE), n)
    given2 = rng.integers(0, len(GIVEN_FEMALE), n)
    one_char = rng.random(n) < 0.3
    # Female and male given names are equally many: the male ones follow at this offset.
    offset = np.where(female, 0, len(GIVEN_FEMALE))
    chars = pa.array([g[0] for g in GIVEN_FEMALE + GIVEN_MALE])
    sounds = pa.array([g[1] for g in GIVEN_FEMALE + GIVEN_MALE])
    second = pc.fill_null(col.pick(chars, given2 + offset, one_char), "")
    second_sound = pc.fill_null(col.pick(sounds, given2 + offset, one_char), "")
    zh_name = col.concat(
        col.pick([s[0] for s in SURNAMES], surname), col.pick(chars, given1 + offset), second
    )
    zh_roman = col.concat(
        col.pick([s[1] for s in SURNAMES], surname), col.pick(sounds, given1 + offset), second_sound
    )

    first_pool = pa.array(ENGLISH_FEMALE + ENGLISH_MALE)
    first = col.pick(
        first_pool,
        rng.integers(0, len(ENGLISH_FEMALE), n) + np.where(female, 0, len(ENGLISH_FEMALE)),
    )
    last = col.pick(ENGLISH_SURNAMES, rng.integers(0, len(ENGLISH_SURNAMES), n))
    en_name = col.concat(first, " ", last)
    en_roman = pc.utf8_lower(col.concat(first, ".", last))
    is_en = pa.array(english)
    return pc.if_else(is_en, en_name, zh_name), pc.if_else(is_en, en_roman, zh_roman)


def company_names(
    rng: np.random.Generator, city: pa.Array, industry: np.ndarray, english: np.ndarray
) -> tuple[pa.Array, pa.Array]:
    """Company names and their ASCII stem (for e-mail domains)."""
    n = len(industry)
    word = rng.integers(0, len(COMPANY_WORDS), n)
    zh = col.concat(
        city,
        col.pick([w[0] for w in COMPANY_WORDS], word),
        col.pick([i[1] for i in INDUSTRIES], industry),
        "有限公司",
    )
    en_word = rng.integers(0, len(COMPANY_WORDS_EN), n)
    en = col.concat(
        col.pick(COMPANY_WORDS_EN, en_word),
        " ",
        col.pick([i[2] for i in INDUSTRIES], industry),
        " Co., Ltd.",
    )
    stem = col.pick([w[1] for w in COMPANY_WORDS], word)
    return pc.if_else(pa.array(english), en, zh), stem


def unique_numbers(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """``n`` distinct integers in [low, high)."""
    return low + rng.choice(high - low, size=n, replace=False)


def emails(
    rng: np.random.Generator, local: pa.Array, number: np.ndarray, domain: pa.Array | None = None
) -> pa.Array:
    """``local`` + ``number`` + ``@`` + domain; ``number`` keeps the addresses distinct."""
    if domain is None:
        domain = col.pick(
            EMAIL_DOMAINS, col.weighted_choice(rng, EMAIL_DOMAIN_WEIGHTS, len(number))
        )
    return col.concat(local, pc.cast(pa.array(number), pa.string()), "@", domain)


def phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct 11-digit Chinese mobile numbers as integers."""
    prefix = MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), n)]
    return prefix * 10**8 + unique_numbers(rng, n, 0, 10**8)


def format_phones(numbers: np.ndarray, style: np.ndarray) -> pa.Array:
    """Phone numbers written in the style given per row (see `PHONE_STYLES`)."""
    digits = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    a = pc.utf8_slice_codeunits(digits, 0, 3)
    b = pc.utf8_slice_codeunits(digits, 3, 7)
    c = pc.utf8_slice_codeunits(digits, 7, 11)
    dashed = col.concat(a, "-", b, "-", c)
    variants = [
        digits,
        dashed,
        col.concat("+86 ", dashed),
        col.concat("0086 ", digits),
        col.concat(a, " ", b, " ", c),
        col.concat("+86", digits),
    ]
    return pc.choose(pa.array(np.asarray(style, dtype=np.int8)), *variants)


def mistyped_phones(numbers: np.ndarray) -> np.ndarray:
    """The numbers with their last digit mistyped (one higher, 9 becomes 0)."""
    last = numbers % 10
    return numbers - last + (last + 1) % 10


def messy_emails(rng: np.random.Generator, addresses: pa.Array) -> pa.Array:
    """The same addresses as typed at a checkout: as in the CRM, upper case, capitalised,
    or with spaces around."""
    style = rng.choice(4, len(addresses), p=[0.4, 0.25, 0.15, 0.2])
    variants = [
        addresses,
        pc.utf8_upper(addresses),
        pc.utf8_capitalize(addresses),
        col.concat(" ", addresses, " "),
    ]
    return pc.choose(pa.array(style.astype(np.int8)), *variants)


def mistyped_emails(addresses: pa.Array) -> pa.Array:
    """The addresses with a misspelt domain (``gmial.com``) that cannot be matched."""
    for right, wrong in DOMAIN_TYPOS.items():
        addresses = pc.replace_substring(addresses, "@" + right, "@" + wrong)
    return addresses


def handle_variants(rng: np.random.Generator, handles: pa.Array) -> pa.Array:
    """Handles as they appear in posts: exact, capitalised, upper case or with a leading ``@``."""
    style = rng.choice(4, len(handles), p=[0.5, 0.2, 0.1, 0.2])
    variants = [
        handles,
        pc.utf8_capitalize(handles),
        pc.utf8_upper(handles),
        col.concat("@", handles),
    ]
    return pc.choose(pa.array(style.astype(np.int8)), *variants)
