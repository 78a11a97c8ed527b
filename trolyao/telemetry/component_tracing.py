"""Spans around chosen methods of a component (a vector store, an embedder), without touching it.

`traced_component(store, "vector_store", {"search_sparse": UNIT_FIRST, ...})` returns a stand-in
that forwards every attribute to `store` and wraps the named methods in an INTERNAL span
(`vector_store.search_sparse`). Only the unit (when it is the first argument), the limit and the
number of results are recorded: never the query, its vector, or the texts being embedded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sized
from enum import Enum
from typing import Any, TypeVar, cast

from opentelemetry import trace

from trolyao.telemetry import attributes as attr

TRACER_NAME = "trolyao.components"
LIMIT_KEYWORD = "limit"

T = TypeVar("T")


class ArgumentShape(Enum):
    """What a traced method's first argument is, so its span can say which unit it served."""

    UNIT_FIRST = "unit_first"
    OTHER = "other"


UNIT_FIRST = ArgumentShape.UNIT_FIRST
OTHER = ArgumentShape.OTHER
_OWN_ATTRIBUTES = frozenset({"_target", "_component", "_methods", "_wrapped", "_tracer"})


class TracedComponent:
    """Forwards everything to the wrapped object; the chosen methods run in a span."""

    def __init__(self, target: object, component: str, methods: Mapping[str, ArgumentShape]) -> None:
        self._target = target
        self._component = component
        self._methods = dict(methods)
        self._wrapped: dict[str, Callable[..., Any]] = {}
        self._tracer = trace.get_tracer(TRACER_NAME)

    @property
    def traced_target(self) -> object:
        """The component itself (for code that needs the real object)."""
        return self._target

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in _OWN_ATTRIBUTES:
            # Not forwarded: a half-built stand-in (copy, pickle) must fail plainly, not recurse.
            raise AttributeError(name)
        value = getattr(self._target, name)
        shape = self._methods.get(name)
        if shape is None or not callable(value):
            return value
        wrapped = self._wrapped.get(name)
        if wrapped is None:
            wrapped = self._wrap(name, value, shape)
            self._wrapped[name] = wrapped
        return wrapped

    def _wrap(self, name: str, method: Callable[..., Any], shape: ArgumentShape) -> Callable[..., Any]:
        span_name = f"{self._component}.{name}"

        @functools.wraps(method)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with self._tracer.start_as_current_span(span_name) as span:
                if span.is_recording():
                    span.set_attribute(attr.COMPONENT, self._component)
                    if shape is UNIT_FIRST and args and isinstance(args[0], str):
                        span.set_attribute(attr.UNIT, args[0])
                    limit = kwargs.get(LIMIT_KEYWORD)
                    if isinstance(limit, int):
                        span.set_attribute(attr.LIMIT, limit)
                result = method(*args, **kwargs)
                if span.is_recording() and isinstance(result, Sized) and not isinstance(result, (str, bytes)):
                    span.set_attribute(attr.RESULT_COUNT, len(result))
                return result

        return traced

    def __repr__(self) -> str:
        return f"TracedComponent({self._component}, {self._target!r})"


def traced_component(target: T, component: str, methods: Mapping[str, ArgumentShape]) -> T:
    """`target` with `methods` traced; typed as `target` since it behaves as it does."""
    return cast(T, TracedComponent(target, component, methods))
