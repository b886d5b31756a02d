"""Search: MLflow's filter and order_by grammar, and opaque page tokens."""

from prefect_mltrack.search.grammar import (
    Comparison,
    EntityType,
    Kind,
    OrderKey,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)

__all__ = [
    "Comparison",
    "EntityType",
    "Kind",
    "OrderKey",
    "decode_page_token",
    "encode_page_token",
    "parse_filter",
    "parse_order_by",
]
