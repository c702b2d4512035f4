"""Hallmark parser: table-driven positives and negatives (no models, no Django)."""

from __future__ import annotations

import pytest

from jewel_vision.vision.hallmarks import Hallmark, find_hallmarks, hallmark_tags, parse_hallmark, purity_str


@pytest.fixture(autouse=True)
def _media_root():
    """Overrides tests/conftest.py's Django settings fixture: these tests need no Django."""
    yield

POSITIVES = [
    # text, mark, metal, purity, karat
    # silver
    ("S925", "S925", "silver", 0.925, None),
    ("s925", "S925", "silver", 0.925, None),
    ("S 925", "S925", "silver", 0.925, None),
    ("S.925", "S925", "silver", 0.925, None),
    ("S-925", "S925", "silver", 0.925, None),
    ("925", "S925", "silver", 0.925, None),
    ("925.", "S925", "silver", 0.925, None),
    ("925S", "S925", "silver", 0.925, None),
    ("AG925", "S925", "silver", 0.925, None),
    ("Ag 925", "S925", "silver", 0.925, None),
    ("STERLING", "S925", "silver", 0.925, None),
    ("Sterling Silver", "S925", "silver", 0.925, None),
    ("STER", "S925", "silver", 0.925, None),
    ("925 SILVER", "S925", "silver", 0.925, None),
    ("SILVER 925", "S925", "silver", 0.925, None),
    ("925 ITALY", "S925", "silver", 0.925, None),
    ("5925", "S925", "silver", 0.925, None),  # S read as 5
    ("S9Z5", "S925", "silver", 0.925, None),  # 2 read as Z
    ("92 5", "S925", "silver", 0.925, None),  # split by OCR
    ("S990", "S990", "silver", 0.990, None),
    ("S999", "S999", "silver", 0.999, None),
    ("8999", "S999", "silver", 0.999, None),  # serif S read as 8
    ("999 silver", "S999", "silver", 0.999, None),
    ("FINE SILVER", "S999", "silver", 0.999, None),
    ("958", "S958", "silver", 0.958, None),
    ("BRITANNIA", "S958", "silver", 0.958, None),
    ("800", "S800", "silver", 0.800, None),
    ("830", "S830", "silver", 0.830, None),
    ("835", "S835", "silver", 0.835, None),
    ("925 18K GP", "S925", "silver", 0.925, None),  # gold-plated sterling
    ("925 VERMEIL", "S925", "silver", 0.925, None),
    # gold by karat
    ("18K", "18K", "gold", 0.75, 18),
    ("18k", "18K", "gold", 0.75, 18),
    ("18KT", "18K", "gold", 0.75, 18),
    ("18 KT", "18K", "gold", 0.75, 18),
    ("14 K", "14K", "gold", 0.585, 14),
    ("18ct", "18K", "gold", 0.75, 18),
    ("9CT", "9K", "gold", 0.375, 9),
    ("14KP", "14K", "gold", 0.585, 14),
    ("18 KARAT", "18K", "gold", 0.75, 18),
    ("K18", "18K", "gold", 0.75, 18),
    ("18KWG", "18K", "gold", 0.75, 18),
    ("14K YG", "14K", "gold", 0.585, 14),
    ("8K", "8K", "gold", 0.333, 8),
    ("10K", "10K", "gold", 0.417, 10),
    ("1OK", "10K", "gold", 0.417, 10),  # O read for 0
    ("I8K", "18K", "gold", 0.75, 18),  # I read for 1
    ("22K", "22K", "gold", 0.916, 22),
    ("24K", "24K", "gold", 0.999, 24),
    ("18K GOLD", "18K", "gold", 0.75, 18),
    ("9KJV", None, None, None, None),  # (glued maker's mark: the reader splits it, the parser doesn't)
    # gold millesimal
    ("750", "750", "gold", 0.75, 18),
    ("G750", "750", "gold", 0.75, 18),
    ("AU750", "750", "gold", 0.75, 18),
    ("Au750", "750", "gold", 0.75, 18),
    ("Au 750", "750", "gold", 0.75, 18),
    ("AUZ50", "750", "gold", 0.75, 18),  # 7 read as Z
    ("750AU", "750", "gold", 0.75, 18),
    ("333", "333", "gold", 0.333, 8),
    ("375", "375", "gold", 0.375, 9),
    ("417", "417", "gold", 0.417, 10),
    ("585", "585", "gold", 0.585, 14),
    ("583", "583", "gold", 0.583, 14),
    ("916", "916", "gold", 0.916, 22),
    ("990", "990", "gold", 0.990, 24),
    ("999", "999", "gold", 0.999, 24),  # bare 999 defaults to gold
    ("Au999", "999", "gold", 0.999, 24),
    ("999.9", "9999", "gold", 0.9999, 24),
    ("750 18K", "18K", "gold", 0.75, 18),
    # platinum
    ("PT950", "PT950", "platinum", 0.95, None),
    ("Pt950", "PT950", "platinum", 0.95, None),
    ("PT 950", "PT950", "platinum", 0.95, None),
    ("PT-950", "PT950", "platinum", 0.95, None),
    ("950PT", "PT950", "platinum", 0.95, None),
    ("950 PLAT", "PT950", "platinum", 0.95, None),
    ("950.PLAT-IW", "PT950", "platinum", 0.95, None),
    ("PLAT", "PT950", "platinum", 0.95, None),
    ("PLATINUM", "PT950", "platinum", 0.95, None),
    ("PT900", "PT900", "platinum", 0.9, None),
    ("Pt 900", "PT900", "platinum", 0.9, None),
    ("PT999", "PT999", "platinum", 0.999, None),
    ("950", "PT950", "platinum", 0.95, None),  # bare 950 defaults to platinum
    # palladium
    ("PD950", "PD950", "palladium", 0.95, None),
    ("Pd 500", "PD500", "palladium", 0.5, None),
    ("950 PD", "PD950", "palladium", 0.95, None),
    ("PALLADIUM", "PD950", "palladium", 0.95, None),
    # Chinese marks
    ("足金", "足金", "gold", 0.990, 24),
    ("千足金", "千足金", "gold", 0.999, 24),
    ("足银", "足银", "silver", 0.990, None),
    ("千足银", "千足银", "silver", 0.999, None),
    ("足金999", "千足金", "gold", 0.999, 24),
    ("足金 990", "足金", "gold", 0.990, 24),
    ("Au999 足金", "千足金", "gold", 0.999, 24),
    ("18K金", "18K", "gold", 0.75, 18),
    ("银925", "S925", "silver", 0.925, None),
    ("铂950", "PT950", "platinum", 0.95, None),
    ("钯950", "PD950", "palladium", 0.95, None),
    ("足铂", "足铂", "platinum", 0.990, None),
    # full-width digits (NFKC)
    ("Ｓ９２５", "S925", "silver", 0.925, None),
]


@pytest.mark.parametrize("text,mark,metal,purity,karat", POSITIVES)
def test_positive(text, mark, metal, purity, karat):
    hm = parse_hallmark(text)
    if mark is None:
        assert hm is None
        return
    assert hm == Hallmark(mark, metal, pytest.approx(purity, abs=1e-6), karat), text


NEGATIVES = [
    "", "   ", "hello world", "SILVER", "GOLD", "Made in Italy", "CZ",
    "1250", "1,250", "12.50", "750.00", "$925", "€750", "750 EUR", "PRICE 585", "USD 999",
    "2019", "12.05.2019", "2023-05-18", "12/18", "18/12/2019",
    "SIZE 7", "SIZE 18", "SIZE 925", "Size: 6.5",
    "RX-750", "A750", "MODEL 750", "REF 585", "SKU 12345", "NO. 916", "750-3", "AB925",
    "0.50CT", "1CT", "1.5 ct", "T.W. 0.25", "18K GP", "18KGP", "14K GF", "10K HGE", "18K RGP",
    "18K GOLD PLATED", "1/20 12K GF", "EPNS", "NICKEL SILVER 800", "SILVER PLATE 925",
    "100", "500", "123", "4K", "7K", "19K", "SOS", "ISO", "BOB", "LOL", "ZOO", "SIZE",
    "IP68", "USB", "K9", "K7",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative(text):
    assert parse_hallmark(text) is None, (text, parse_hallmark(text))


@pytest.mark.parametrize(
    "text,hint,mark",
    [
        ("999", None, "999"),
        ("999", "silver", "S999"),
        ("999", "gold", "999"),
        ("999", "platinum", "PT999"),
        ("990", "silver", "S990"),
        ("950", "silver", "S950"),
        ("950", "palladium", "PD950"),
        ("999 S925", None, "S925"),  # explicit marks beat bare numbers
        ("999 AG", None, "S999"),
        ("SILVER CHAIN 999", None, "S999"),  # context from the same text
        ("GOLD 999", "silver", "999"),  # text beats the hint
        ("S925", "gold", "S925"),  # explicit marks ignore the hint
    ],
)
def test_ambiguous_context(text, hint, mark):
    hm = parse_hallmark(text, metal_hint=hint)
    assert hm is not None and hm.mark == mark


def test_find_all_and_order():
    marks = [h.mark for h in find_hallmarks("750 PT950 18K")]
    assert marks[0] == "PT950"  # explicit first, leftmost among them
    assert set(marks) == {"PT950", "18K", "750"}


def test_purity_str_and_tags():
    assert purity_str(0.925) == "0.925"
    assert purity_str(0.75) == "0.750"
    assert purity_str(0.9999) == "0.9999"
    tags = hallmark_tags(parse_hallmark("S925"), 0.87, "rapidocr", "v1")
    assert [(t.facet, t.value) for t in tags] == [("hallmark", "S925"), ("metal", "silver"), ("purity", "0.925")]
    assert all(t.confidence == pytest.approx(0.87) and t.model == "rapidocr" and t.model_version == "v1" for t in tags)
    assert hallmark_tags(parse_hallmark("18K"), 2.0, "m", "v")[2].value == "0.750"
    assert hallmark_tags(parse_hallmark("18K"), 2.0, "m", "v")[0].confidence == 1.0


def test_hallmark_is_frozen():
    hm = parse_hallmark("750")
    with pytest.raises(Exception):
        hm.mark = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "text,marks",
    [
        ("18K 750", [("18K", 0.75), ("750", 0.75)]),
        ("18K750", [("18K", 0.75), ("750", 0.75)]),
        ("9K.375", [("9K", 0.375), ("375", 0.375)]),
        ("750-18K", [("18K", 0.75), ("750", 0.75)]),
        ("14KT585", [("14K", 0.585), ("585", 0.585)]),
        ("925 CZ", [("S925", 0.925)]),
    ],
)
def test_two_part_marks_are_two_findings(text, marks):
    found = find_hallmarks(text)
    assert [(h.mark, h.purity) for h in found] == marks
    assert all(h.metal == ("silver" if h.mark.startswith("S") else "gold") for h in found)


@pytest.mark.parametrize("text", ["RX-750", "A18K750", "18K7500", "1250", "0.50CT"])
def test_glued_split_stays_strict(text):
    assert find_hallmarks(text) == []
