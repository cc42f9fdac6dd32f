"""The generation window and the shape of demand over it: weekdays, Chinese shopping holidays
and the Spring Festival, plus the hour of day at which people shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

SECONDS_PER_DAY = 86_400
_EPOCH = date(1970, 1, 1)

SPRING_FESTIVAL: dict[int, date] = {
    2015: date(2015, 2, 19),
    2016: date(2016, 2, 8),
    2017: date(2017, 1, 28),
    2018: date(2018, 2, 16),
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
}
"""Lunar New Year's Day; years outside the table fall back to 5 February."""

# Relative order volume by hour of day (China e-commerce: late morning, afternoon, late evening).
HOURLY_WEIGHTS = np.array(
    [
        2.0,
        1.0,
        0.5,
        0.3,
        0.3,
        0.4,
        0.8,
        1.5,
        2.5,
        3.5,
        4.5,
        4.5,
        4.0,
        4.0,
        4.5,
        4.5,
        4.0,
        3.5,
        3.5,
        4.0,
        5.5,
        6.5,
        6.0,
        3.5,
    ]
)


@dataclass(frozen=True)
class Window:
    """The delivery days ``first`` .. ``first + days - 1``; day index 0 is ``first``."""

    first: date
    days: int

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.days - 1)

    @property
    def epoch_day(self) -> int:
        """Days from 1970-01-01 to the first day (for Arrow date32 columns)."""
        return (self.first - _EPOCH).days

    @property
    def epoch_second(self) -> int:
        """Seconds from 1970-01-01 00:00 to the first day's midnight (for timestamp columns)."""
        return self.epoch_day * SECONDS_PER_DAY

    @property
    def end_second(self) -> int:
        """Seconds from the first midnight to the end of the last day (exclusive)."""
        return self.days * SECONDS_PER_DAY

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=d) for d in range(self.days)]


def _spring_festival(year: int) -> date:
    return SPRING_FESTIVAL.get(year, date(year, 2, 5))


def demand_multiplier(window: Window) -> np.ndarray:
    """Relative order volume per window day (1.0 = an ordinary weekday)."""
    days = window.dates()
    multiplier = np.ones(window.days)
    for i, day in enumerate(days):
        m = 1.15 if day.weekday() >= 5 else 1.0
        if day.month == 6 and 1 <= day.day <= 17:
            m *= 1.3
        if (day.month, day.day) == (6, 18):
            m *= 3.0
        if (day.month == 10 and day.day >= 24) or (day.month == 11 and day.day <= 10):
            m *= 1.4
        if (day.month, day.day) == (11, 11):
            m *= 5.0
        if (day.month, day.day) == (12, 12):
            m *= 2.5
        for year in (day.year, day.year + 1):
            until_festival = (_spring_festival(year) - day).days
            if 8 <= until_festival <= 21:
                m *= 1.35  # New Year shopping before the couriers stop
            elif -7 <= until_festival <= 7:
                m *= 0.45  # logistics shut down around the festival
        multiplier[i] = m
    return multiplier


def promotion_days(window: Window) -> np.ndarray:
    """True on the days of the 618, Double 11 and Double 12 campaigns."""
    return np.array(
        [
            (d.month == 6 and d.day <= 18)
            or (d.month == 10 and d.day >= 24)
            or (d.month == 11 and d.day <= 11)
            or (d.month, d.day) == (12, 12)
            for d in window.dates()
        ]
    )


def month_starts(window: Window) -> np.ndarray:
    """Day indexes of the first day of each month after the first window day."""
    return np.array([i for i, d in enumerate(window.dates()) if d.day == 1 and i > 0], dtype=int)


def quarter_starts(window: Window) -> np.ndarray:
    """Day indexes of 1 January, April, July and October within the window."""
    return np.array(
        [i for i, d in enumerate(window.dates()) if d.day == 1 and d.month in (1, 4, 7, 10)],
        dtype=int,
    )


def cumulative_weights(weights: np.ndarray) -> np.ndarray:
    """Cumulative day weights normalised to mean 1, with a leading 0 (length days + 1)."""
    scaled = weights / weights.mean()
    return np.concatenate([[0.0], np.cumsum(scaled)])


def sample_days(
    rng: np.random.Generator, cumulative: np.ndarray, start: np.ndarray, stop: int
) -> np.ndarray:
    """One day per entry of ``start``, drawn in [start, stop) with the weights behind
    ``cumulative`` (as made by `cumulative_weights`)."""
    low = cumulative[start]
    u = low + rng.random(len(start)) * (cumulative[stop] - low)
    day = np.searchsorted(cumulative, u, side="right") - 1
    return np.clip(day, start, stop - 1)


def sample_seconds_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight, following the hourly shopping pattern."""
    cdf = np.cumsum(HOURLY_WEIGHTS) / HOURLY_WEIGHTS.sum()
    hour = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(hour, 23) * 3600 + rng.integers(0, 3600, n)
