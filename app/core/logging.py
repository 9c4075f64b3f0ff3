from __future__ import annotations

import logging


def configure_logging(level: str) -> None:
    """One plain line per record on stderr; uvicorn's own access log is replaced by ours."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", force=True)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("lekhamudra.request").setLevel(level)
