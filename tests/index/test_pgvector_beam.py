"""How wide a beam each kind of query walks (no database needed)."""

from jewel_vision.index.base import Filters
from jewel_vision.index.pgvector import beam_factor


def test_one_type_walks_its_own_graph_with_a_narrower_beam_than_other_filters():
    assert beam_factor(None) == 1 and beam_factor(Filters(in_stock=True)) == 1
    assert beam_factor(Filters(in_stock=True, types=("ring",), price_min=100, price_max=600)) == 1.5
    assert beam_factor(Filters(types=("ring", "earring"))) == 4  # no partial graph holds two types
    assert beam_factor(Filters(price_max=600)) == 4
    assert beam_factor(Filters(metal_tones=("rose",))) == 4
