"""Who nautlive is at a venue: the trader id its nodes run as, and how its client order ids are told from others'."""

from __future__ import annotations

import re

TRADER_ID = "NAUTLIVE-NLV"
# Nautilus's client order ids are O-<date>-<time>-<trader tag>-<strategy tag>-<count>: ours carry the NLV tag.
OWN_ORDER_ID = re.compile(r"^O-\d{8}-\d{6}-NLV-[^-]+-\d+$")


def is_own_order(client_order_id: str) -> bool:
    return bool(OWN_ORDER_ID.match(client_order_id))
