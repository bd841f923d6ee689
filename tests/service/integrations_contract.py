"""The job store's part of the API integrations (revision 0004), written once and run on SQLite
and PostgreSQL by ``test_backend_contract.py``: upload options kept with the job and handed to
its worker, idempotency keys (taken atomically, replayed, refused for another request, expired,
taken over, forgotten with their analysis) and webhooks (taken by one process, leased, taken
over when the lease runs out, removed with their analysis).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from backend_contract import SHA, add_video, at_once, done, new_job, sha

from deepfake_detector.service.db import JobStatus
from deepfake_detector.service.jobstore import Claim, JobStore, Outcome

FP_A, FP_B = "a" * 64, "b" * 64
DAY_S = 86400.0
LINKS = {"self": "http://localhost/api/v1/analyses/x"}


class IntegrationsStoreContract:
    """Subclasses provide ``store``: an empty database migrated to head."""

    @pytest.fixture
    def store(self) -> JobStore:
        raise NotImplementedError("a backend subclass provides the store")

    # -- options ------------------------------------------------------------------------------

    def test_options_are_kept_and_handed_to_the_worker(self, store: JobStore) -> None:
        add_video(store)
        asked = {"frames": 8, "model": "selfblend-efficientnet-lite0-cpu"}
        analysis, created = store.create_or_reuse(SHA, "key-8", "a.mp4", options=asked)
        assert created and analysis.options == asked
        again, created = store.create_or_reuse(SHA, "key-8", "b.mp4", options=asked)
        assert (again.id, created, again.options) == (analysis.id, False, asked)
        plain = new_job(store, "key-default")
        found = store.get(plain)
        assert found is not None and found[0].options is None
        claim = store.claim(analysis.id, "w1")
        assert claim is not None and claim.options == asked
        plain_claim = store.claim(plain, "w1")
        assert plain_claim == Claim(plain, "w1", 1, f"{SHA}/video.mp4")  # options None

    # -- idempotency keys ---------------------------------------------------------------------

    def test_a_key_is_new_busy_then_replayed(self, store: JobStore) -> None:
        job_id = new_job(store)
        first = store.claim_idempotency_key("tok", "k-1", FP_A, DAY_S, 60)
        assert first.state == "new"
        assert store.claim_idempotency_key("tok", "k-1", FP_A, DAY_S, 60).state == "busy"
        assert store.claim_idempotency_key("tok", "k-1", FP_B, DAY_S, 60).state == "mismatch"
        store.complete_idempotency_key("tok", "k-1", job_id, 202, False)
        replay = store.claim_idempotency_key("tok", "k-1", FP_A, DAY_S, 60)
        assert replay.state == "replay"
        record = replay.record
        assert (record.analysis_id, record.status_code, record.deduplicated) == (job_id, 202, False)
        assert store.claim_idempotency_key("tok", "k-1", FP_B, DAY_S, 60).state == "mismatch"
        store.release_idempotency_key("tok", "k-1")  # answered: stays
        assert store.claim_idempotency_key("tok", "k-1", FP_A, DAY_S, 60).state == "replay"
        # Another caller's key of the same name is another key.
        assert store.claim_idempotency_key("other", "k-1", FP_B, DAY_S, 60).state == "new"

    def test_a_released_key_is_free_again(self, store: JobStore) -> None:
        assert store.claim_idempotency_key("tok", "k", FP_A, DAY_S, 60).state == "new"
        store.release_idempotency_key("tok", "k")
        assert store.claim_idempotency_key("tok", "k", FP_B, DAY_S, 60).state == "new"

    def test_an_expired_key_is_forgotten(self, store: JobStore) -> None:
        job_id = new_job(store)
        assert store.claim_idempotency_key("tok", "k", FP_A, 0.3, 60).state == "new"
        store.complete_idempotency_key("tok", "k", job_id, 202, False)
        assert store.claim_idempotency_key("tok", "k", FP_B, 0.3, 60).state == "mismatch"
        time.sleep(0.4)
        assert store.claim_idempotency_key("tok", "k", FP_B, DAY_S, 60).state == "new"

    def test_a_key_held_too_long_is_taken_over(self, store: JobStore) -> None:
        """Its first request's process died before answering."""
        assert store.claim_idempotency_key("tok", "k", FP_A, DAY_S, 60).state == "new"
        time.sleep(0.05)
        assert store.claim_idempotency_key("tok", "k", FP_A, DAY_S, 60).state == "busy"
        assert store.claim_idempotency_key("tok", "k", FP_A, DAY_S, 0.01).state == "new"
        assert store.claim_idempotency_key("tok", "k", FP_A, DAY_S, 60).state == "busy"

    def test_concurrent_claims_of_a_key_have_one_winner(self, store: JobStore) -> None:
        results = at_once(
            6,
            lambda: store.claim_idempotency_key("tok", "race", FP_A, DAY_S, 60).state,
            store.engine,
            "INSERT INTO idempotency_keys",
        )
        assert Counter(results) == {"new": 1, "busy": 5}

    def test_a_key_is_forgotten_with_its_analysis(self, store: JobStore) -> None:
        job_id = new_job(store)
        store.claim_idempotency_key("tok", "k", FP_A, DAY_S, 60)
        store.complete_idempotency_key("tok", "k", job_id, 202, False)
        assert store.delete(job_id) is not None
        assert store.claim_idempotency_key("tok", "k", FP_B, DAY_S, 60).state == "new"

    # -- webhooks -----------------------------------------------------------------------------

    def test_webhooks_are_taken_once_their_analysis_ends(self, store: JobStore) -> None:
        job_id = new_job(store)
        hook = store.add_webhook(job_id, "https://hooks.example.org/a?secret=1", LINKS)
        assert (hook.state, hook.attempts) == ("pending", 0)
        assert store.take_webhooks(60) == []  # still queued
        claim = store.claim(job_id, "w1")
        assert claim is not None and store.take_webhooks(60) == []  # running
        assert store.finish(claim, done())
        (taken,) = store.take_webhooks(60, job_id)
        webhook, analysis = taken
        assert (webhook.id, webhook.state, webhook.links) == (hook.id, "delivering", LINKS)
        assert (analysis.id, analysis.status, analysis.verdict) == (job_id, "done", "FAKE")
        assert store.take_webhooks(60) == []  # leased to the process that took it

        store.webhook_attempted(
            hook.id, attempts=1, state="delivering", response_status=503, error="503", lease_s=60
        )
        assert store.take_webhooks(60) == []
        # Its sender died: the lease runs out and another process takes it, tries counted.
        store.webhook_attempted(
            hook.id, attempts=2, state="delivering", response_status=None, error="x", lease_s=-1
        )
        (again,) = store.take_webhooks(60)
        assert (again[0].id, again[0].attempts) == (hook.id, 2)
        store.webhook_attempted(
            hook.id, attempts=3, state="delivered", response_status=200, error=None, lease_s=60
        )
        assert store.take_webhooks(60) == []
        (shown,) = store.webhooks(job_id)
        assert (shown.state, shown.attempts, shown.response_status) == ("delivered", 3, 200)
        assert shown.delivered_at is not None and shown.delivered_at.utcoffset().seconds == 0
        assert shown.lease_until is None

    def test_webhooks_of_failed_analyses_are_sent_too(self, store: JobStore) -> None:
        job_id = new_job(store)
        store.add_webhook(job_id, "https://hooks.example.org/", LINKS)
        claim = store.claim(job_id, "w1")
        assert claim is not None
        assert store.finish(claim, Outcome(status=JobStatus.FAILED, error="no"))
        ((_, analysis),) = store.take_webhooks(60)
        assert (analysis.status, analysis.error) == ("failed", "no")

    def test_concurrent_takes_send_a_webhook_once(self, store: JobStore) -> None:
        job_id = new_job(store)
        for n in range(3):
            store.add_webhook(job_id, f"https://hooks.example.org/{n}", LINKS)
        claim = store.claim(job_id, "w1")
        assert claim is not None and store.finish(claim, done())
        results = at_once(4, lambda: store.take_webhooks(60), store.engine, "UPDATE webhooks")
        taken = [w.id for batch in results for w, _ in batch]
        assert len(taken) == 3 and len(set(taken)) == 3

    def test_webhooks_go_with_their_analysis(self, store: JobStore) -> None:
        job_id = new_job(store)
        other = new_job(store, sha256=sha("another video"))
        store.add_webhook(job_id, "https://hooks.example.org/", LINKS)
        kept = store.add_webhook(other, "https://hooks.example.org/", LINKS)
        assert store.delete(job_id) is not None
        assert store.webhooks(job_id) == []
        assert [w.id for w in store.webhooks(other)] == [kept.id]
