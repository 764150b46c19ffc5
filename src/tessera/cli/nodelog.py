"""Node logs: one line per action a node takes. For people, a timestamped line (rich, on stderr); with
--json, one JSON object per line with `ts`, `level`, `node`, `event` and the event's fields."""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape


class NodeLog:
    def __init__(self, node: str, *, as_json: bool = False) -> None:
        self.node = node
        self.as_json = as_json
        self._console = Console(stderr=True, highlight=False, soft_wrap=True)
        self._last_error: str | None = None

    def event(self, event: str, text: str, *, level: str = "info", **fields: Any) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        if self.as_json:
            record = {"ts": now.isoformat(timespec="milliseconds"), "level": level, "node": self.node,
                      "event": event, "message": text, **{k: v for k, v in fields.items() if k != "message"}}
            sys.stderr.write(json.dumps(record, default=str) + "\n")
            sys.stderr.flush()
            return
        style = {"error": "red", "warning": "yellow"}.get(level, "")
        line = f"{now:%H:%M:%S} {self.node} {escape(text)}"
        self._console.print(f"[{style}]{line}[/{style}]" if style else line)

    def error(self, event: str, text: str, **fields: Any) -> None:
        """An error is logged once, not again on every pass that still meets it."""
        if text == self._last_error:
            return
        self._last_error = text
        self.event(event, text, level="error", **fields)


def log_provider_report(log: NodeLog, report: Any) -> None:
    """Lines for one pass of the provider node (a `provider.node.StepReport`)."""
    for bid_id in report.bids:
        log.event("bid", f"bid {bid_id} placed", bid_id=bid_id)
    for order_id, reason in report.skipped:
        log.event("skip", f"order {order_id} skipped: {reason}", order_id=order_id, reason=reason)
    for lease_id in report.acknowledged:
        log.event("acknowledged", f"lease {lease_id}: workload runs, acknowledged on-chain (billing starts)",
                  lease_id=lease_id)
    for lease_id, why in report.gave_up:
        log.event("gave_up", f"lease {lease_id} closed before it started ({why}): the tenant is refunded in full",
                  level="warning", lease_id=lease_id, reason=why)
    if report.heartbeats:
        log.event("heartbeat", f"{report.heartbeats} heartbeat(s) sent", count=report.heartbeats)
    if report.withdrawals:
        log.event("withdraw", f"{report.withdrawals} withdrawal(s) of earnings", count=report.withdrawals)
    if report.zk_settled:
        log.event("zk_settled", f"{report.zk_settled} proved result(s) settled", count=report.zk_settled)
    for error in report.errors:
        log.error("error", error, message=error)


def log_coprocessor_report(log: NodeLog, report: Any) -> None:
    """Lines for one pass of the coprocessor node (a `coprocessor.node.StepReport`)."""
    if report.new_requests:
        log.event("requests", f"{report.new_requests} new request(s) seen", count=report.new_requests)
    for kind, verb in (("computed", "computed"), ("committed", "delivery committed"), ("sent", "delivered"),
                       ("finalized", "finalized"), ("challenged", "challenged")):
        for request_id, interval in getattr(report, kind):
            log.event(kind, f"request {request_id} interval {interval}: {verb}", request_id=request_id,
                      interval=interval)
    for request_id, interval, reason in report.skipped:
        log.event("skip", f"request {request_id} interval {interval} skipped: {reason}", request_id=request_id,
                  interval=interval, reason=reason)
    for error in report.errors:
        log.error("error", error, message=error)
