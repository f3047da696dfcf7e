"""The shipped rule packs load and carry the common metadata every rule needs."""

from aftersales.rulepack import load_rulebook


def test_shipped_packs_cover_every_market_and_program():
    book = load_rulebook()
    covered = {(m, p) for pack in book.packs for m in pack.markets for p in pack.programs}
    for market in ("US", "UK", "TH", "VN", "ID", "MY", "PH", "SG"):
        assert (market, "local") in covered
    assert ("TH", "cross_border") in covered and ("US", "cross_border") in covered
    assert "#" in book.policy_version
