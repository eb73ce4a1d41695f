"""Commerce touchpoints: orders and subscriptions, the revenue side of the customer's story."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from .enums import BillingPeriod
from .envelope import Event, Payload
from .values import Day, Department, FrozenModel, Ident, Money, Name, Text


class CommerceEvent(Event):
    home_department = Department.commerce


class OrderLine(FrozenModel):
    sku: Ident
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price: Money


class OrderPlacedPayload(Payload):
    order_id: Ident
    total: Money
    lines: list[OrderLine] = Field(default_factory=list, max_length=500)


class OrderPlaced(CommerceEvent):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    schema_version: Literal[1] = 1
    payload: OrderPlacedPayload


class SubscriptionStartedPayload(Payload):
    subscription_id: Ident
    plan: Name
    amount: Money = Field(description="the price per billing period")
    period: BillingPeriod
    renews_on: Day


class SubscriptionStarted(CommerceEvent):
    type: Literal["SubscriptionStarted"] = "SubscriptionStarted"
    schema_version: Literal[1] = 1
    payload: SubscriptionStartedPayload


class SubscriptionRenewedPayload(Payload):
    subscription_id: Ident
    plan: Name
    amount: Money
    renews_on: Day


class SubscriptionRenewed(CommerceEvent):
    type: Literal["SubscriptionRenewed"] = "SubscriptionRenewed"
    schema_version: Literal[1] = 1
    payload: SubscriptionRenewedPayload


class ProductUsageReportedPayload(Payload):
    product: Name
    metric: Ident = Field(description="what is counted: `seats`, `api_calls`, `storage_gb`, ...")
    used: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    limit: Decimal | None = Field(
        default=None, gt=0, max_digits=18, decimal_places=4, description="the plan's allowance, if any"
    )
    period_end: Day | None = None


class ProductUsageReported(CommerceEvent):
    """The product's own metering: how much of the plan a customer uses. Near the allowance, it is a
    reason to offer more."""

    type: Literal["ProductUsageReported"] = "ProductUsageReported"
    schema_version: Literal[1] = 1
    payload: ProductUsageReportedPayload


class SubscriptionCancelledPayload(Payload):
    subscription_id: Ident
    effective_on: Day
    reason: Text | None = None


class SubscriptionCancelled(CommerceEvent):
    type: Literal["SubscriptionCancelled"] = "SubscriptionCancelled"
    schema_version: Literal[1] = 1
    payload: SubscriptionCancelledPayload
