"""A small app that only uses the standard logging module; opentelemetry-instrument ships it.

See README.md beside this file for the command.
"""

from __future__ import annotations

import logging

log = logging.getLogger("shop.checkout")


def main() -> None:
    logging.getLogger().setLevel(logging.INFO)
    log.info("checkout service started")
    for order in (1001, 1002):
        log.info("order %d paid", order, extra={"order.id": order})
    log.warning("stock low for %s", "A-42")
    try:
        raise ValueError("card declined")
    except ValueError:
        log.exception("payment failed for order %d", 1003)


if __name__ == "__main__":
    main()
