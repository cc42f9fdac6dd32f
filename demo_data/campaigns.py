"""Past campaigns with control groups, and the effect they have: the `campaigns` source.

Over the last year of the window the shop ran two audiences in another tool, each customer at
most once per audience, with a stable 10% control group (``activation.holdout``, the hash
Weixi itself uses):

- ``win_back_high_value`` on the first of every month: customers with at least two purchases
  whose last purchase was 90 to 365 days ago (lapsed, previously frequent);
- ``first_repurchase_nudge`` 7 to 15 days after a new customer's first order, when they have
  not ordered again.

The effect is planted before baskets are drawn, so orders, lines and amounts stay consistent:
a share (:data:`CONVERSION_SHARE`) of the treated customers makes one extra purchase within
:data:`EFFECT_DAYS` days of the message. Control customers follow the normal process. The
truth records, per audience and window, the effect on the treated customers exactly (their
outcomes with and without the extra purchases), which the lift table should recover.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from activation.holdout import CONTROL, TREATMENT, holdout_groups

from . import columns as col
from .customers import Population, customer_ids
from .seasons import SECONDS_PER_DAY, Window, month_starts, sample_seconds_of_day

WIN_BACK = "win_back_high_value"
NUDGE = "first_repurchase_nudge"
HOLDOUT_SHARE = 0.10
CAMPAIGN_DAYS = 365
"""Campaigns run over this many last days of the window."""
WIN_BACK_MIN_PURCHASES = 2
WIN_BACK_LAPSED_DAYS = (90, 365)
NUDGE_AFTER_FIRST_ORDER_DAYS = (7, 15)
CONVERSION_SHARE = {WIN_BACK: 0.25, NUDGE: 0.0}
"""Share of the treated customers who buy once more because of the message: a clear effect
for the win-back, none for the nudge."""
EFFECT_DAYS = 21
"""The extra purchase falls 1 to this many days after the message."""
WINDOWS = (30, 60, 90)
CHURNED_AFTER_DAYS = 365
"""Churn as the lift table defines it, with Weixi's default ``churned_after_days``."""
CAMPAIGN_ID_PREFIX = {WIN_BACK: "WB", NUDGE: "NUDGE"}
# The campaigns draw from a stream of their own, so that the other sources' streams (spawned
# from the seed in generator.py) stay as they are.
_STREAM = 0xCA4


@dataclass
class CampaignPlanter:
    """Chooses the past campaigns' members from the simulated purchases and adds the extra
    purchases of the converted treated customers (:meth:`plant`, called by
    ``purchases.simulate_orders``); then writes the members (:meth:`deliveries`) and the
    truth (:meth:`truth`)."""

    seed: int
    population: Population
    window: Window
    members: pd.DataFrame = field(init=False)
    """audience, person, day (assignment), group, channel."""
    extra: pd.DataFrame = field(init=False)
    """person, second of each planted extra purchase, with the member row it belongs to."""

    def plant(self, person: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The purchase times ``person``, ``second`` (sorted by person, then time) with the
        extra purchases of converted treated members added at the end."""
        rng = np.random.default_rng([self.seed, _STREAM])
        crm = person < self.population.n_crm
        members = pd.concat(
            [self._win_back(person[crm], second[crm]), self._nudge(rng, person[crm], second[crm])],
            ignore_index=True,
        )
        ids = pd.Series(customer_ids(members["person"].to_numpy(), self.population.n_crm))
        members["group"] = holdout_groups(members["audience"], ids, HOLDOUT_SHARE).to_numpy()
        members["channel"] = self._channels(members["person"].to_numpy())
        self.members = members

        share = members["audience"].map(CONVERSION_SHARE).to_numpy()
        converts = (members["group"].to_numpy() == TREATMENT) & (rng.random(len(members)) < share)
        chosen = members[converts]
        extra_day = chosen["day"].to_numpy() + rng.integers(1, EFFECT_DAYS + 1, len(chosen))
        extra_second = extra_day * SECONDS_PER_DAY + sample_seconds_of_day(rng, len(chosen))
        inside = extra_second < self.window.end_second
        self.extra = pd.DataFrame(
            {
                "member": chosen.index.to_numpy()[inside],
                "person": chosen["person"].to_numpy()[inside],
                "second": extra_second[inside],
            }
        )
        return (
            np.concatenate([person, self.extra["person"].to_numpy()]),
            np.concatenate([second, self.extra["second"].to_numpy()]),
        )

    def _win_back(self, person: np.ndarray, second: np.ndarray) -> pd.DataFrame:
        """On the first of each month: customers with enough purchases, the last one 90-365
        days ago, not in an earlier win-back campaign."""
        day = second // SECONDS_PER_DAY
        rank = col.rank_within(person) + 1
        next_day = _next_day(person, day)
        low, high = WIN_BACK_LAPSED_DAYS
        chosen: list[pd.DataFrame] = []
        seen = np.zeros(self.population.n_crm, dtype=bool)
        for campaign_day in month_starts(self.window):
            if campaign_day < self.window.days - CAMPAIGN_DAYS:
                continue
            # The purchase that is the customer's last before the campaign day.
            last = (day < campaign_day) & (next_day >= campaign_day)
            lapsed = (campaign_day - day >= low) & (campaign_day - day <= high)
            who = person[last & lapsed & (rank >= WIN_BACK_MIN_PURCHASES)]
            who = who[~seen[who]]
            seen[who] = True
            chosen.append(pd.DataFrame({"person": who, "day": campaign_day}))
        frame = pd.concat(chosen, ignore_index=True) if chosen else _no_members()
        frame.insert(0, "audience", WIN_BACK)
        return frame

    def _nudge(
        self, rng: np.random.Generator, person: np.ndarray, second: np.ndarray
    ) -> pd.DataFrame:
        """New customers 7-15 days after their first order, if they have not ordered again."""
        day = second // SECONDS_PER_DAY
        first = (col.rank_within(person) == 0) & (self.population.signup_second[person] >= 0)
        low, high = NUDGE_AFTER_FIRST_ORDER_DAYS
        assigned = day + rng.integers(low, high + 1, len(day))
        eligible = (
            first
            & (day >= self.window.days - CAMPAIGN_DAYS)
            & (assigned < self.window.days)
            & (_next_day(person, day) > assigned)
        )
        return pd.DataFrame(
            {"audience": NUDGE, "person": person[eligible], "day": assigned[eligible]}
        )

    def _channels(self, person: np.ndarray) -> np.ndarray:
        """The channel each message went out on: SMS where there is a phone, else e-mail,
        else WeChat."""
        p = self.population
        return np.where(
            p.has_phone[person], "sms", np.where(p.has_email[person], "email", "wechat")
        )

    def deliveries(self) -> pa.Table:
        """The members file of each assignment day, as the campaign tool exported it."""
        members = self.members.sort_values(["day", "audience", "person"], kind="stable")
        day = members["day"].to_numpy()
        month = pd.Series(col.dates(day, self.window).to_pandas()).astype("datetime64[s]")
        prefix = members["audience"].map(CAMPAIGN_ID_PREFIX)
        rng = np.random.default_rng([self.seed, _STREAM, 1])
        exported = day * SECONDS_PER_DAY + rng.integers(6 * 3600, 9 * 3600, len(day))
        return pa.table(
            {
                "campaign_id": pa.array(
                    (prefix + "-" + month.dt.strftime("%Y-%m")).to_numpy(), pa.string()
                ),
                "audience": pa.array(members["audience"].to_numpy(), pa.string()),
                "customer_id": customer_ids(members["person"].to_numpy(), self.population.n_crm),
                "assigned_on": col.dates(day, self.window),
                "holdout_group": pa.array(members["group"].to_numpy(), pa.string()),
                "channel": pa.array(members["channel"].to_numpy(), pa.string()),
                "updated_at": col.timestamps(exported, self.window),
                "_day": col.integers(day),
            }
        )

    def truth(self, orders: pd.DataFrame) -> pa.Table:
        """Per audience and window: members whose window ended by the last day, the planted
        conversion share, and the true effect on the treated of each lift metric (their
        outcome with the extra purchases minus without them), from the delivered ``orders``."""
        purchases = _purchases(orders, self.window.end_second)
        planted = purchases.merge(self.extra[["person", "second"]].assign(planted=True), how="left")
        planted["planted"] = planted["planted"].fillna(False).astype(bool)
        rows = []
        for audience, members in self.members.groupby("audience", sort=True):
            treated = members[members["group"] == TREATMENT]
            for window_days in WINDOWS:
                done = treated[treated["day"] + window_days <= self.window.days - 1]
                with_extra = _outcomes(done, planted, window_days)
                without = _outcomes(done, planted[~planted["planted"]], window_days)
                effect = (with_extra - without).mean()
                complete = members[members["day"] + window_days <= self.window.days - 1]
                rows.append(
                    {
                        "audience": audience,
                        "window_days": window_days,
                        "treatment_members": int((complete["group"] == TREATMENT).sum()),
                        "control_members": int((complete["group"] == CONTROL).sum()),
                        "conversion_share": CONVERSION_SHARE[audience],
                        "repurchase_rate_effect": round(float(effect["repurchased"]), 6),
                        "revenue_per_customer_effect": round(float(effect["revenue"]), 2),
                        "churn_rate_effect": round(float(effect["churned"]), 6),
                    }
                )
        return pa.Table.from_pylist(rows)


def _next_day(person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The day of each purchase's next purchase by the same person (sorted by person, then
    time); a very large number for the last one."""
    same = np.r_[person[1:] == person[:-1], False]
    return np.where(same, np.r_[day[1:], 0], np.iinfo(np.int64).max)


def _no_members() -> pd.DataFrame:
    return pd.DataFrame({"person": np.zeros(0, dtype=np.int64), "day": np.zeros(0, np.int64)})


def _purchases(orders: pd.DataFrame, end_second: int) -> pd.DataFrame:
    """Delivered purchases (not cancelled) with their net revenue in yuan, as fct_orders
    counts them: a refund counts once its row is delivered (before ``end_second``)."""
    bought = orders[~orders["cancelled"]]
    refunded = bought["refunded"].to_numpy() & (bought["refund_second"].to_numpy() < end_second)
    net = bought["total_cents"].to_numpy() - np.where(refunded, bought["refund_cents"], 0)
    return pd.DataFrame(
        {
            "person": bought["person"].to_numpy(),
            "second": bought["second"].to_numpy(),
            "day": bought["day"].to_numpy(),
            "revenue": np.maximum(net, 0) / 100,
        }
    )


def _outcomes(members: pd.DataFrame, purchases: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Per member (same index): repurchased, revenue in the window (days 1..window after the
    assignment) and churned at its end (no purchase in the CHURNED_AFTER_DAYS up to it)."""
    joined = (
        members[["person", "day"]]
        .reset_index()
        .merge(
            purchases[["person", "day", "revenue"]].rename(columns={"day": "bought"}),
            on="person",
            how="left",
        )
    )
    offset = joined["bought"] - joined["day"]
    inside = (offset >= 1) & (offset <= window_days)
    recent = (offset >= window_days - CHURNED_AFTER_DAYS) & (offset <= window_days)
    per_member = (
        joined.assign(
            repurchased=inside,
            revenue=joined["revenue"].where(inside, 0.0),
            active=recent,
        )
        .groupby("index")
        .agg(
            repurchased=("repurchased", "any"), revenue=("revenue", "sum"), active=("active", "any")
        )
        .reindex(members.index)
    )
    return pd.DataFrame(
        {
            "repurchased": per_member["repurchased"].astype(float),
            "revenue": per_member["revenue"].astype(float),
            "churned": (~per_member["active"].astype(bool)).astype(float),
        },
        index=members.index,
    )
