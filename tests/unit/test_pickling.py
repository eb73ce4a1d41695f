"""Event models cross multiprocessing queues through their own reducers (adapters/pickling.py): every
generated touchpoint arrives equal, with the same fields set, and a model's private and extra values come
across as pydantic's own pickling carries them."""

from __future__ import annotations

import pickle
from datetime import timedelta
from multiprocessing.reduction import ForkingPickler
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr

from touchstream.adapters.pickling import _reduced, register_model_reducers
from touchstream.adapters.synthetic.generator import GeneratorConfig, generate_with_truth
from touchstream.events import EVENT_TYPES, ResolvedTouchpoint, parse_event


@pytest.fixture(scope="module")
def touchpoints() -> list[ResolvedTouchpoint]:
    config = GeneratorConfig.for_events(3_000)
    raw, truth = generate_with_truth(config)
    now = config.start + timedelta(days=config.days + 1)
    found = []
    for offset, wire in enumerate(raw):
        event = parse_event(orjson.dumps(wire), now=now)
        contact, account = truth.events[str(event.event_id)]
        found.append(ResolvedTouchpoint(event, contact, account, 0, offset))
    return found


def _through_the_queue(value: Any) -> Any:
    return ForkingPickler.loads(bytes(ForkingPickler.dumps(value)))


def test_every_event_model_pickles_through_the_reducers() -> None:
    register_model_reducers()
    for cls in EVENT_TYPES.values():
        assert ForkingPickler._extra_reducers.get(cls) is _reduced, cls.__name__  # type: ignore[attr-defined]


def test_every_touchpoint_arrives_equal_with_its_fields_set(touchpoints: list[ResolvedTouchpoint]) -> None:
    register_model_reducers()
    arrived = _through_the_queue(touchpoints)
    assert arrived == touchpoints
    for sent, got in zip(touchpoints, arrived, strict=True):
        assert got.event.model_fields_set == sent.event.model_fields_set
        assert got.event.payload.model_fields_set == sent.event.payload.model_fields_set
        assert got.event.model_dump_json() == sent.event.model_dump_json()


class _Kept(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    _note: str = PrivateAttr(default="")
    _unset: int = PrivateAttr()


def test_private_and_extra_values_arrive_as_pydantic_pickles_them() -> None:
    model = _Kept(name="a", other=1)
    model._note = "kept"
    reduced = _reduced(model)
    back = reduced[0](*reduced[1])
    native = pickle.loads(pickle.dumps(model))
    assert back == native == model
    assert back.__pydantic_extra__ == native.__pydantic_extra__ == {"other": 1}
    assert back.__pydantic_private__ == native.__pydantic_private__ == {"_note": "kept"}
