"""The generator's hidden platform policy: verdicts by rule, planted deviation, noise, determinism."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from aftersales.generate.platform import (
    UPHELD_IN_WINDOW,
    PlatformPolicy,
    appeal_upheld,
    dispute_buyer_wins,
    upheld_in_window,
)
from aftersales.generate.sample_inbox import generate_inbox
from aftersales.generate.spec import GeneratorSpec


def test_disputes_follow_the_windows_without_noise():
    rng = np.random.default_rng(0)
    disputed = np.array([True, True, True, True, False])
    late = np.array([False, True, False, True, False])
    outside = np.array([False, False, True, True, False])
    won = dispute_buyer_wins(rng, PlatformPolicy(noise=0.0), disputed, late, outside)
    assert won.tolist() == [True, False, False, False, False]


@pytest.mark.parametrize("planted", [True, False])
def test_appeals_in_window_by_type_and_late_ones_by_the_planted_deviation(planted):
    types = np.array(list(UPHELD_IN_WINDOW) * 2, dtype=object)
    market = np.array(["US"] * 6 + ["TH"] * 6, dtype=object)
    policy = PlatformPolicy(noise=0.0, upholds_late_appeals=planted)
    on_time = appeal_upheld(np.random.default_rng(0), policy, types, market, np.zeros(12, dtype=bool))
    assert on_time.tolist() == [False, False, True, True, True, True] + [
        False,
        False,
        True,
        False,
        False,
        False,
    ]
    assert on_time.tolist() == [upheld_in_window(t, m) for t, m in zip(types, market, strict=True)]
    late = appeal_upheld(np.random.default_rng(0), policy, types, market, np.ones(12, dtype=bool))
    assert late.tolist() == [planted] * 12


def test_noise_flips_that_share_of_verdicts():
    n = 20_000
    policy = PlatformPolicy(noise=0.2)
    won = dispute_buyer_wins(
        np.random.default_rng(5), policy, np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    )
    flipped = 1 - won.mean()
    assert abs(flipped - 0.2) < 0.015  # 5 standard errors
    with pytest.raises(ValueError):
        PlatformPolicy(noise=0.7)


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generation_with_a_platform_policy_is_deterministic_and_only_changes_verdicts(tmp_path):
    base = dict(shops=2, orders=300, seed=4, batch_date=date(2026, 11, 27), bad_row_rate=0.0)
    policy = PlatformPolicy(noise=0.1)
    generate_inbox(tmp_path / "a", GeneratorSpec(**base, platform=policy))
    generate_inbox(tmp_path / "b", GeneratorSpec(**base, platform=policy))
    generate_inbox(tmp_path / "random", GeneratorSpec(**base))
    a, b, plain = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "random")
    assert a == b
    assert set(a) == set(plain)
    # the world is the same (shops, chats): only files carrying verdicts and their refunds differ
    assert a["shops.csv"] == plain["shops.csv"]
    assert any(a[f] != plain[f] for f in a)


def test_generate_command_takes_the_platform_policy(tmp_path):
    import json

    from click.testing import CliRunner

    from aftersales.commands.generate import generate

    out, report = tmp_path / "inbox", tmp_path / "report.json"
    args = [
        "--out",
        str(out),
        "--shops",
        "1",
        "--orders",
        "60",
        "--bad-row-rate",
        "0",
        "--report",
        str(report),
    ]
    result = CliRunner().invoke(generate, [*args, "--platform-noise", "0.1", "--no-planted"])
    assert result.exit_code == 0, result.output
    assert json.loads(report.read_text())["spec"]["platform"] == {"noise": 0.1, "upholds_late_appeals": False}
    refused = CliRunner().invoke(generate, [*args, "--platform-noise", "0.9"])
    assert refused.exit_code == 2
