"""The agent's tools: look up an order, issue a refund, over a small read-only order table.

The table is never mutated: `issue_refund` returns a confirmation instead of storing the
refund, so every answer is independent of the ones before it (golden cases run in any
order, and split across xdist workers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

#: The demo's "today": fixed, so refund windows (and therefore answers) never drift.
TODAY = dt.date(2024, 6, 20)

#: Days after delivery during which a refund can be issued (handbook chunk `refunds-01`).
REFUND_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Order:
    """One order in the shop's table."""

    order_id: str
    customer: str
    items: tuple[str, ...]
    total: float
    """What the customer paid, shipping and tax included (the refund ceiling)."""
    status: str
    """`processing`, `shipped`, `delivered` or `cancelled`."""
    placed: dt.date
    delivered: dt.date | None = None
    refunded: float = 0.0
    """Amount already refunded."""
    carrier_tracking: str | None = None

    @property
    def refundable(self) -> float:
        """What can still be refunded: the total minus earlier refunds."""
        return round(self.total - self.refunded, 2)

    def refund_deadline(self) -> dt.date | None:
        """Last day of the refund window, or None when the order is not delivered."""
        if self.delivered is None:
            return None
        return self.delivered + dt.timedelta(days=REFUND_WINDOW_DAYS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view, as the lookup tool returns it."""
        data = asdict(self)
        data["items"] = list(self.items)
        data["placed"] = self.placed.isoformat()
        data["delivered"] = self.delivered.isoformat() if self.delivered else None
        data["refundable"] = self.refundable
        return data


def _order(
    order_id: str,
    customer: str,
    items: tuple[str, ...],
    total: float,
    status: str,
    placed: str,
    delivered: str | None = None,
    refunded: float = 0.0,
    tracking: str | None = None,
) -> Order:
    return Order(
        order_id=order_id,
        customer=customer,
        items=items,
        total=total,
        status=status,
        placed=dt.date.fromisoformat(placed),
        delivered=dt.date.fromisoformat(delivered) if delivered else None,
        refunded=refunded,
        carrier_tracking=tracking,
    )


ORDERS: dict[str, Order] = {
    order.order_id: order
    for order in (
        _order("A1001", "Maya Chen", ("Ceramic pour-over set",), 59.00, "delivered", "2024-06-05", "2024-06-10"),
        _order("A1002", "Jonas Weber", ("Trail backpack 30L",), 89.90, "delivered", "2024-05-27", "2024-06-01"),
        _order(
            "A1003",
            "Priya Nair",
            ("Linen duvet cover", "Pillow shams (2)"),
            124.50,
            "shipped",
            "2024-06-17",
            tracking="1Z999AA10123456784",
        ),
        _order("A1004", "Tom Alvarez", ("Enamel camping mugs (4)",), 42.00, "processing", "2024-06-19"),
        _order("A1005", "Grace Okafor", ("Two-person tent",), 210.00, "delivered", "2024-03-28", "2024-04-02"),
        _order(
            "A1006",
            "Liam Byrne",
            ("Wool throw blanket",),
            35.50,
            "delivered",
            "2024-05-20",
            "2024-05-25",
            refunded=35.50,
        ),
        _order(
            "A1007",
            "Sofia Rossi",
            ("Cast iron skillet", "Chef's knife"),
            150.00,
            "delivered",
            "2024-06-01",
            "2024-06-05",
            refunded=50.00,
        ),
        _order("A1008", "Noah Kim", ("Beeswax candles (3)",), 18.00, "cancelled", "2024-06-12"),
        _order("A1009", "Emma Larsen", ("Down sleeping bag",), 179.00, "delivered", "2024-05-17", "2024-05-21"),
        _order(
            "A1010",
            "Omar Haddad",
            ("Bamboo cutting board", "Olive wood spoons"),
            75.00,
            "delivered",
            "2024-05-05",
            "2024-05-10",
        ),
        _order("A1011", "Chloe Martin", ("Hiking poles",), 64.00, "shipped", "2024-06-10", tracking="CA482913377GB"),
        _order("A1012", "Daniel Osei", ("Brass desk lamp",), 27.80, "delivered", "2024-06-11", "2024-06-15"),
    )
}


def lookup_order(order_id: str, orders: dict[str, Order] = ORDERS) -> Order | None:
    """The `lookup_order` tool: the order with this id, or None when there is none."""
    return orders.get(order_id.upper())


@dataclass(frozen=True)
class RefundDecision:
    """Whether a refund may be issued, and why not when it may not."""

    allowed: bool
    reason: str = ""


def check_refund(order: Order | None, amount: float, looked_up: bool, today: dt.date = TODAY) -> RefundDecision:
    """The refund guardrail: a looked-up, delivered order, inside the window, within its total."""
    if not looked_up or order is None:
        return RefundDecision(False, "the order has not been looked up")
    if order.status == "cancelled":
        return RefundDecision(False, f"order {order.order_id} was cancelled and never charged")
    if order.status == "shipped":
        return RefundDecision(False, f"order {order.order_id} has shipped but has not been delivered yet")
    if order.status != "delivered" or order.delivered is None:
        return RefundDecision(False, f"order {order.order_id} is still processing and has not shipped yet")
    deadline = order.refund_deadline()
    if deadline is not None and today > deadline:
        return RefundDecision(
            False,
            f"order {order.order_id} was delivered on {format_date(order.delivered)}, "
            f"more than {REFUND_WINDOW_DAYS} days ago",
        )
    if order.refundable <= 0:
        return RefundDecision(False, f"order {order.order_id} has already been fully refunded")
    if amount <= 0:
        return RefundDecision(False, "the refund amount must be positive")
    if amount > order.refundable:
        return RefundDecision(
            False,
            f"{_money(amount)} is more than the {_money(order.refundable)} "
            f"that can still be refunded on order {order.order_id}",
        )
    return RefundDecision(True)


def check_refund_regressed(
    order: Order | None, amount: float, looked_up: bool, today: dt.date = TODAY
) -> RefundDecision:
    """The planted `guardrail` regression: checks only that the order id exists.

    It is the bug a refactor that moved the lookup after the refund would leave: with no
    looked-up record in hand, the window and the amount ceiling are silently skipped.
    """
    if order is None:
        return RefundDecision(False, "there is no such order")
    return RefundDecision(True)


def format_date(day: dt.date) -> str:
    """A date as customers read it: `June 10, 2024`."""
    return f"{day.strftime('%B')} {day.day}, {day.year}"


def _money(amount: float) -> str:
    return f"${amount:,.2f}"
