"""Sleep statistics against values computed by hand from small hypnograms."""

from __future__ import annotations

import pytest

from sacd.sleep_stats import sleep_summary

W, N1, N2, N3, R, U = 0, 1, 2, 3, 4, -1


def test_a_small_night_by_hand():
    # 20 epochs of 30 s: wake x3, N1, N2 x3, wake x2, N2, N3 x2, REM x2, N2, unscored, REM, wake, N1, wake
    night = [W, W, W, N1, N2, N2, N2, W, W, N2, N3, N3, R, R, N2, U, R, W, N1, W]
    summary = sleep_summary(night)
    assert summary.time_in_bed_min == 10.0  # 20 epochs
    assert summary.total_sleep_time_min == 6.0  # 12 sleep epochs
    assert summary.sleep_efficiency_pct == pytest.approx(60.0)
    assert summary.sleep_onset_latency_min == 1.5  # onset at epoch 3
    assert summary.rem_latency_min == 4.5  # first REM at epoch 12: 9 epochs after onset
    # sleep period = epochs 3..18; wake inside it: epochs 7, 8 and 17 -> 1.5 min in 2 awakenings
    assert summary.waso_min == 1.5 and summary.awakenings == 2
    assert summary.unscored_min == 0.5
    assert summary.stage_minutes == {"W": 3.5, "N1": 1.0, "N2": 2.5, "N3": 1.0, "REM": 1.5}
    assert summary.stage_percent_of_sleep["N2"] == pytest.approx(100 * 2.5 / 6.0)
    assert sum(summary.stage_percent_of_sleep.values()) == pytest.approx(100.0)


def test_a_night_without_sleep_or_rem():
    awake = sleep_summary([W, W, U, W])
    assert awake.total_sleep_time_min == 0 and awake.sleep_onset_latency_min is None
    assert awake.rem_latency_min is None and awake.awakenings == 0 and awake.sleep_efficiency_pct == 0
    no_rem = sleep_summary([N2, N2, W, N3], epoch_seconds=60)
    assert no_rem.sleep_onset_latency_min == 0 and no_rem.rem_latency_min is None
    assert no_rem.waso_min == 1.0 and no_rem.awakenings == 1 and no_rem.time_in_bed_min == 4.0


def test_the_table_and_dict_hold_every_figure_and_bad_input_is_refused():
    summary = sleep_summary([W, N1, N2, R, W])
    text = summary.format_table("night 1")
    for words in ("total sleep time", "sleep efficiency", "REM latency", "wake after sleep onset", "awakenings"):
        assert words in text
    assert summary.to_dict()["stage_minutes"]["REM"] == 0.5
    with pytest.raises(ValueError, match="stages must be in"):
        sleep_summary([0, 7])
    with pytest.raises(ValueError, match="epoch_seconds"):
        sleep_summary([0], epoch_seconds=0)


def test_the_printed_summary_says_what_is_missing_instead_of_a_number():
    no_rem = sleep_summary([W, N1, N2, N3, N2, W]).format_table().splitlines()
    assert "  REM latency              no REM" in no_rem
    assert "  sleep onset latency       0.5 min" in no_rem
    no_sleep = sleep_summary([W, W]).format_table()
    assert "  sleep onset latency      no sleep" in no_sleep.splitlines() and "n/a" not in no_sleep
