"""``GET /metrics``: the service in the Prometheus text format (the ``prometheus-client`` library).

Everything is read from the shared database and queue at scrape time, so any web process of any
machine reports the whole deployment: jobs by status, queue depth, live workers, and histograms
of job latency and stage timings that the workers recorded when they finished each job
(``JobStore.finish``; cumulative, across restarts and machines).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from deepfake_detector.service.context import ServiceContext, service

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

_HISTOGRAMS = {
    "job_latency_seconds": ("status", "Seconds from upload to a finished job."),
    "job_run_seconds": ("status", "Seconds a worker spent on the attempt that finished a job."),
    "stage_seconds": ("stage", "Seconds spent in one stage of one analysis."),
}


class ServiceCollector(Collector):
    """Collects the deployment's state from the job store and the queue on every scrape."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        jobs = self.ctx.backends.jobs
        up = GaugeMetricFamily(
            "dfd_up", "1 when the database and the queue answer.", labels=["part"]
        )
        try:
            counts = jobs.counts()
            live = jobs.live_worker_count(self.ctx.settings.worker_lease_s)
            histograms = jobs.histograms()
            up.add_metric(["database"], 1)
        except Exception:
            log.exception("metrics: database error")
            counts, live, histograms = {}, None, {}
            up.add_metric(["database"], 0)
        try:
            pending: int | None = self.ctx.backends.queue.pending_count()
            up.add_metric(["queue"], 1)
        except Exception:
            log.exception("metrics: queue error")
            pending = None
            up.add_metric(["queue"], 0)
        yield up
        by_status = GaugeMetricFamily("dfd_jobs", "Analyses by status.", labels=["status"])
        for status, n in counts.items():
            by_status.add_metric([status], n)
        yield by_status
        if pending is not None:
            yield GaugeMetricFamily("dfd_queue_pending", "Tasks waiting in the queue.", pending)
        if live is not None:
            yield GaugeMetricFamily(
                "dfd_workers_live", "Job worker processes with a current lease.", live
            )
        for metric, (label_name, documentation) in _HISTOGRAMS.items():
            family = HistogramMetricFamily(f"dfd_{metric}", documentation, labels=[label_name])
            for (name, label), histogram in sorted(histograms.items()):
                if name != metric:
                    continue
                buckets = [
                    ("+Inf" if math.isinf(bound) else floatToGoString(bound), count)
                    for bound, count in histogram.buckets
                ]
                family.add_metric([label], buckets, histogram.total)
            yield family


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(service()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
