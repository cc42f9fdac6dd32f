import pandas as pd
import pytest

from activation.holdout import CONTROL, TREATMENT, holdout_group, holdout_groups


def test_holdout_is_stable_and_close_to_the_share():
    customers = pd.Series([f"C{n:07d}" for n in range(20_000)])
    audiences = pd.Series(["win_back"] * len(customers))
    first = holdout_groups(audiences, customers, 0.1)
    again = holdout_groups(audiences, customers, 0.1)
    assert first.equals(again)
    assert (first == CONTROL).mean() == pytest.approx(0.1, abs=0.01)
    assert holdout_group("win_back", customers[0], 0.1) == first[0]


def test_holdout_is_independent_between_audiences():
    customers = pd.Series([f"C{n:07d}" for n in range(20_000)])
    a = holdout_groups(pd.Series(["welcome"] * len(customers)), customers, 0.5)
    b = holdout_groups(pd.Series(["birthday"] * len(customers)), customers, 0.5)
    both_control = ((a == CONTROL) & (b == CONTROL)).mean()
    assert both_control == pytest.approx(0.25, abs=0.02)
    assert set(a) == {CONTROL, TREATMENT}


def test_holdout_groups_equal_the_per_member_rule():
    # holdout_groups hashes in DuckDB, holdout_group in Python: the same group for every member,
    # non-ASCII ids and shares near 0 and 1 included.
    customers = pd.Series([f"C{n:07d}" for n in range(5_000)] + ["客户", "", "a\x1fb", "é"])
    audiences = pd.Series(
        ["win_back", "生日"] * (len(customers) // 2) + ["x"] * (len(customers) % 2)
    )
    for share in (0.0, 0.001, 0.1, 0.5, 0.999, 1.0):
        groups = holdout_groups(audiences, customers, share)
        expected = [holdout_group(a, c, share) for a, c in zip(audiences, customers, strict=True)]
        assert groups.tolist() == expected, share
