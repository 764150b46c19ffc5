"""Paying per call: HTTP 402 on the official x402 SDK, channels for sub-cent calls, never paying twice.

- `build_facilitator` / `facilitator_app`: the SDK's facilitator over any Tessera chain (embedded included).
- `PaidAPI.install`: price FastAPI routes (`exact` and `batch-settlement`), with a durable payment journal.
- `Payer`: pay endpoints within spending caps; a retried request re-sends the same payment.
- `ChannelClient`: open, top up, inspect and close payment channels directly on chain.
"""

import logging

# the SDK logs refusals (a replayed nonce, a bad signature) as warnings: a library does not print them unasked;
# `tessera facilitator run` and applications that configure logging still see them
logging.getLogger("x402").addHandler(logging.NullHandler())

from .channels import ChannelClient, ChannelView
from .client import PaidResponse, Payer
from .facilitator import DEFAULT_PORT, build_facilitator, facilitator_app
from .network import PaymentAsset, caip2
from .server import PaidAPI, PaidRoute
from .signer import ChainFacilitatorSigner

__all__ = ["DEFAULT_PORT", "ChainFacilitatorSigner", "ChannelClient", "ChannelView", "PaidAPI", "PaidResponse",
           "PaidRoute", "Payer", "PaymentAsset", "build_facilitator", "caip2", "facilitator_app"]
