"""``/metrics`` in the Prometheus text format, read back with prometheus-client's own parser."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from service_support import RunningApp, upload, wait_for_job

import video_factory


def scrape(running_app: RunningApp) -> dict[str, list]:
    response = running_app.client().get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    families = text_string_to_metric_families(response.get_data(as_text=True))
    return {family.name: family.samples for family in families}


def value(samples: list, name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, samples)
    return float(found[0])


def test_metrics_count_jobs_and_record_their_timings(
    running_app: RunningApp, tmp_path: Path
) -> None:
    before = scrape(running_app)
    done_before = value(before["dfd_jobs"], "dfd_jobs", status="done")
    latency_before = sum(
        s.value for s in before["dfd_job_latency_seconds"] if s.name.endswith("_count")
    )

    # A size no other test uses: the shared app reuses the analysis of content it already has.
    clip = video_factory.no_face(tmp_path / "metrics.mp4", duration_s=1.0, size=(480, 272))
    created = upload(running_app.client(), clip).get_json()
    final, _ = wait_for_job(running_app.client(), created["id"])
    assert final["status"] == "done"

    after = scrape(running_app)
    assert value(after["dfd_jobs"], "dfd_jobs", status="done") == done_before + 1
    assert value(after["dfd_up"], "dfd_up", part="database") == 1
    assert value(after["dfd_up"], "dfd_up", part="queue") == 1
    assert value(after["dfd_workers_live"], "dfd_workers_live") >= 1
    assert value(after["dfd_queue_pending"], "dfd_queue_pending") >= 0
    latency = after["dfd_job_latency_seconds"]
    count = value(latency, "dfd_job_latency_seconds_count", status="done")
    assert sum(s.value for s in latency if s.name.endswith("_count")) == latency_before + 1
    # Cumulative buckets: never decreasing, +Inf equal to the count, the sum within the job's time.
    buckets = [s for s in latency if s.name.endswith("_bucket") and s.labels["status"] == "done"]
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
    assert counts[-1] == count
    stages = after["dfd_stage_seconds"]
    stage_names = {s.labels["stage"] for s in stages}
    assert stage_names & set(final["result"]["timings"]), (stage_names, final["result"]["timings"])
