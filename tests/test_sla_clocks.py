"""Clock rules in rules/*/sla.yaml: the shipped packs' coverage and the validation of bodies."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
import yaml
from test_sla_support import RULES_DIR

from aftersales.rulepack import RulePackError, load_rulebook
from aftersales.sla.clocks import SLA_CATALOGUE, load_clock_rules

MARKETS_BY_PROGRAM = {
    "local": ("US", "UK", "TH", "VN", "ID", "MY", "PH", "SG"),
    "cross_border": ("US", "TH", "VN", "ID", "MY", "PH", "SG"),
}


@pytest.fixture(scope="module")
def clocks():
    return load_clock_rules(RULES_DIR)


def in_force(clocks, market, program, day):
    return {
        (c.sla_id, c.stage): c
        for c in clocks
        if market in c.rule.markets and program in c.rule.programs and c.rule.in_force(day)
    }


def test_every_market_has_chat_response_cancellation_and_dispatch_clocks(clocks):
    day = dt.date(2026, 12, 1)
    for program, markets in MARKETS_BY_PROGRAM.items():
        for market in markets:
            slas = {sla for sla, _ in in_force(clocks, market, program, day)}
            assert {"chat_reply", "aftersales_response", "cancellation_response", "dispatch"} <= slas, (
                market,
                program,
            )


def test_us_local_runs_every_contract_clock(clocks):
    slas = {sla for sla, _ in in_force(clocks, "US", "local", dt.date(2026, 12, 1))}
    assert slas == set(SLA_CATALOGUE)


def test_rule_ids_are_unique_across_packs_and_carry_metadata(clocks):
    keys = [(c.rule.id, c.rule.version, c.rule.markets) for c in clocks]
    assert len(keys) == len(set(keys))
    assert len({c.rule.id for c in clocks}) == len({(c.rule.pack, c.rule.id) for c in clocks})
    book = load_rulebook(RULES_DIR)
    for c in clocks:
        assert c.rule.clause_en and c.rule.clause_zh and c.rule.source in book.sources


def test_versions_in_force_follow_their_dates(clocks):
    us_dispatch = [c for c in clocks if c.rule.id == "us_local.sla.dispatch"]
    assert {c.rule.version: c.bands[-1].duration.amount for c in us_dispatch} == {1: 3, 2: 2}
    before, after = (
        in_force(clocks, "ID", "local", dt.date(2025, 10, 31)),
        in_force(clocks, "ID", "local", dt.date(2025, 11, 1)),
    )
    assert before[("aftersales_response", None)].bands[-1].duration.unit == "hours"
    assert after[("aftersales_response", None)].bands[-1].duration.unit == "calendar_days"
    assert ("dispatch", "handover") not in in_force(clocks, "TH", "cross_border", dt.date(2026, 6, 17))
    assert ("dispatch", "handover") in in_force(clocks, "TH", "cross_border", dt.date(2026, 6, 18))


def test_price_bands_are_encoded_as_written(clocks):
    us = in_force(clocks, "US", "local", dt.date(2026, 12, 1))[("aftersales_response", None)]
    uk = in_force(clocks, "UK", "local", dt.date(2026, 12, 1))[("aftersales_response", None)]
    assert [b.price for b in us.bands[:2]] == [{"lte": 100.0}, {"gt": 100.0}]
    assert [b.price for b in uk.bands[:2]] == [{"lt": 100.0}, {"gte": 100.0}]


@pytest.fixture
def pack(tmp_path):
    """A one-pack rules dir; returns a writer for its sla.yaml."""
    rules = tmp_path / "rules"
    (rules / "p").mkdir(parents=True)
    shutil.copy(RULES_DIR / "sources.yaml", rules / "sources.yaml")
    (rules / "p" / "pack.yaml").write_text("id: p\nversion: 1\nmarkets: [US]\nprograms: [local]\n")

    def write(*bodies):
        docs = [
            {
                "id": f"r{i}",
                "version": 1,
                "effective_from": "2026-01-01",
                "clause_en": "x",
                "clause_zh": "x",
                "source": "DESIGN",
                "firmness": "I",
                **b,
            }
            for i, b in enumerate(bodies)
        ]
        (rules / "p" / "sla.yaml").write_text(yaml.safe_dump({"rules": docs}))
        return rules

    return write


BASE = {
    "sla_id": "aftersales_response",
    "start": "request_created",
    "end": "seller_response",
    "duration": {"amount": 2, "unit": "business_days"},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration": {"amount": 2, "unit": "weeks"}}, "unit must be one of"),
        ({"duration": {"amount": 24, "unit": "hours", "at": "12:00"}}, "'at' makes no sense"),
        ({"duration": {"amount": 1.5, "unit": "business_days"}}, "whole number of days"),
        ({"duration": {"unit": "next_weekday", "at": "12:00"}}, "needs weekday"),
        ({"start": "order_paid"}, "start of aftersales_response"),
        ({"end": ["seller_response", "appeal_submitted"]}, "end of aftersales_response"),
        ({"void_on": "order_cancelled"}, "void_on of aftersales_response"),
        ({"sla_id": "delivery"}, "sla_id must be one of"),
        ({"order_types": ["Normal"]}, "order clocks only"),
        (
            {
                "bands": [
                    {
                        "when": {"item_price": {"lte": 100}},
                        "duration": {"amount": 2, "unit": "business_days"},
                    },
                    {
                        "when": {"item_price": {"gte": 100}},
                        "duration": {"amount": 4, "unit": "business_days"},
                    },
                ]
            },
            "price bands overlap at 100",
        ),
        (
            {"bands": [{"when": {"colour": "red"}, "duration": {"amount": 2, "unit": "hours"}}]},
            "unknown band",
        ),
        ({"priority": 3}, "unknown key"),
    ],
)
def test_invalid_clock_bodies_are_rejected_with_a_clear_reason(pack, change, message):
    with pytest.raises(RulePackError, match=message):
        load_clock_rules(pack({**BASE, **change}))


def test_two_rules_may_not_set_the_same_clock_on_the_same_day(pack):
    with pytest.raises(RulePackError, match="both set the aftersales_response clock"):
        load_clock_rules(pack(BASE, BASE))


def test_unquoted_clock_time_is_read_as_a_time(pack):
    rules = pack(
        {
            **BASE,
            "bands": [
                {
                    "when": {"start_weekday": ["Sat"]},
                    "duration": {"unit": "next_weekday", "weekday": "Mon", "at": 720},
                }
            ],
        }
    )
    band = load_clock_rules(rules)[0].bands[0]
    assert (band.duration.at, band.duration.weekday, band.start_weekdays) == (dt.time(12, 0), 1, (6,))
