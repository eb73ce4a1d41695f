"""What crosses between this project's processes, and how.

Event models go through multiprocessing's queues as their four slots, rebuilt by one function call
(`register_model_reducers`). Pydantic's own `__getstate__`/`__setstate__` carry the same four values as a
dict, set again by a Python method per model: ~20 us a touchpoint to pickle against ~13 us this way, and
~15 us against ~8 us to load; the two-process run's hand-over uses it. Only multiprocessing's pickler
(`ForkingPickler`) takes these reducers; other pickling is untouched.

A child's exception goes to its parent as it is when it can be pickled (`picklable`), else as its text.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from multiprocessing.reduction import ForkingPickler

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def register_model_reducers() -> None:
    """Register the reducers for every model of the event language defined so far (the pickling side
    needs them; the loading side finds `_rebuilt` by name)."""
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for model in pending.pop().__subclasses__():
            pending.append(model)
            if model.__module__.startswith(_OWN_MODELS) and model not in _REDUCED:
                ForkingPickler.register(model, _reduced)
                _REDUCED.add(model)


_OWN_MODELS = __name__.split(".")[0] + ".events"  # touchstream.events
_REDUCED: set[type] = set()


def _reduced(model: BaseModel) -> tuple[Callable[..., BaseModel], tuple[object, ...]]:
    private = model.__pydantic_private__
    if private:  # as pydantic's `__getstate__`: an unset private attribute is not carried
        private = {k: v for k, v in private.items() if v is not PydanticUndefined}
    state = (model.__dict__, model.__pydantic_fields_set__, model.__pydantic_extra__, private)
    return _rebuilt, (type(model), *state)


def _rebuilt(
    model: type[BaseModel],
    fields: dict[str, object],
    fields_set: set[str],
    extra: dict[str, object] | None,
    private: dict[str, object] | None,
) -> BaseModel:
    rebuilt = model.__new__(model)
    _set = object.__setattr__  # as pydantic's `__setstate__`: no validation, no frozen check
    _set(rebuilt, "__dict__", fields)
    _set(rebuilt, "__pydantic_fields_set__", fields_set)
    _set(rebuilt, "__pydantic_extra__", extra)
    _set(rebuilt, "__pydantic_private__", private)
    return rebuilt


def picklable(exc: BaseException) -> bool:
    """Whether `exc` survives a trip through pickle (a child's exception raised again in its parent)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return False
    return True
