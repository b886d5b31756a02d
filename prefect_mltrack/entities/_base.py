"""The base of every entity: a frozen pydantic model that also takes MLflow's positional order."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

E = TypeVar("E", bound="Entity")


class Entity(BaseModel):
    """Frozen model whose fields can be given positionally, in declaration order.

    MLflow users write ``Metric("loss", 0.1, 1700000000000, 3)``; pydantic alone only takes keywords.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            names = list(type(self).model_fields)
            if len(args) > len(names):
                raise TypeError(
                    f"{type(self).__name__} takes at most {len(names)} positional arguments "
                    f"({', '.join(names)}); got {len(args)}"
                )
            for name, value in zip(names, args, strict=False):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__} got two values for '{name}'")
                kwargs[name] = value
        super().__init__(**kwargs)


_FIELDS_SET: dict[type, frozenset[str]] = {}


def trusted(cls: type[E], **values: Any) -> E:
    """Build an entity from values that are already valid (rows read back from our own store),
    skipping validation: 3x faster than ``model_construct``, which matters for 100k-point histories.
    ``values`` must name every field."""
    fields_set = _FIELDS_SET.get(cls)
    if fields_set is None:
        fields_set = _FIELDS_SET[cls] = frozenset(cls.model_fields)
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", fields_set)
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj
