"""The way back from JSON: ``Analysis.to_dict()`` (as the history store keeps it) → ``Analysis``.

Every renderer is a function of the Analysis tree, so a stored look can be shown again (card,
details, memo, charts) long after the process that computed it has gone. The dataclass tree is
rebuilt from the model's own type hints; ``to_dict`` wrote NaN and infinities as null, and they
come back as NaN where the model says ``float``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

from experimentos import model
from experimentos.model import Analysis


def analysis_from_dict(data: Mapping[str, Any]) -> Analysis:
    """Rebuild an Analysis from ``Analysis.to_dict()``; ValueError when the shape does not fit."""
    try:
        return _build(Analysis, data)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not the JSON of an Analysis ({error!r})") from None


def _build(kind: Any, value: Any) -> Any:
    if kind is Any:
        return value
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return _union(get_args(kind), value)
    if origin is Literal:
        return value
    if origin is tuple:
        return _tuple(get_args(kind), value)
    if origin is frozenset:
        (item,) = get_args(kind)
        return frozenset(_build(item, v) for v in value)
    if dataclasses.is_dataclass(kind):
        return _dataclass(kind, value)
    if kind is float:
        return math.nan if value is None else float(value)
    return value


def _union(options: tuple[Any, ...], value: Any) -> Any:
    if value is None and type(None) in options:
        return None
    real = [o for o in options if o is not type(None)]
    if len(real) == 1:
        return _build(real[0], value)
    for option in real:  # e.g. int | float: keep the JSON value as it is
        if isinstance(option, type) and isinstance(value, option):
            return value
    return _build(real[0], value)


def _tuple(items: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    if len(items) == 2 and items[1] is Ellipsis:
        return tuple(_build(items[0], v) for v in value)
    return tuple(_build(k, v) for k, v in zip(items, value, strict=True))


def _dataclass(kind: type, value: Mapping[str, Any]) -> Any:
    hints = _hints(kind)
    arguments = {
        f.name: _build(hints[f.name], value[f.name])
        for f in dataclasses.fields(kind)
        if f.init and f.name in value
    }
    return kind(**arguments)


@cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind, globalns=vars(model))
