"""The base of every entity: a frozen pydantic model that also takes MLflow's positional order."""

from __future__ import annotations

from collections import deque
from itertools import repeat
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

# BaseModel's instance slots, set through their descriptors: the cheapest way to fill a model in
# without running pydantic (object.__setattr__ looks the descriptor up on every call).
_new = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _fields_set(cls: type[Entity]) -> frozenset[str]:
    fields_set = _FIELDS_SET.get(cls)
    if fields_set is None:
        fields_set = _FIELDS_SET[cls] = frozenset(cls.model_fields)
    return fields_set


def trusted(cls: type[E], **values: Any) -> E:
    """Build an entity from values that are already valid (rows read back from our own store),
    skipping validation: 3x faster than ``model_construct``. ``values`` must name every field,
    in declaration order (the order ``repr`` and ``model_dump`` show)."""
    obj = _new(cls)
    _set_dict(obj, values)
    _set_fields_set(obj, _fields_set(cls))
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj


def trusted_many(cls: type[E], values: list[dict[str, Any]]) -> list[E]:
    """:func:`trusted` over many field dicts at once; each dict becomes the entity's ``__dict__``.

    The loops run inside ``map`` (C), not in bytecode: ~0.2 µs per entity, against ~0.5 µs for
    ``trusted`` in a comprehension. That is what makes a 100,000-point metric history cheap.

    Example:
        >>> from prefect_mltrack.entities import Param
        >>> trusted_many(Param, [{"key": "lr", "value": "0.1"}])
        [Param(key='lr', value='0.1')]
    """
    n = len(values)
    objs = list(map(_new, repeat(cls, n)))
    deque(map(_set_dict, objs, values), maxlen=0)
    deque(map(_set_fields_set, objs, repeat(_fields_set(cls), n)), maxlen=0)
    deque(map(_set_extra, objs, repeat(None, n)), maxlen=0)
    deque(map(_set_private, objs, repeat(None, n)), maxlen=0)
    return objs
