"""Prometheus exposition of `knowledge.stats` (served at /metrics by `supportbot run`).

Values come from the database, so every replica reports the same cluster-wide totals (scrape
one of them) and runs triggered from the CLI or the scheduler count too.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from knowledge.stats import collect


class StatsCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator:
        with self.sessions() as session:
            stats = collect(session)
        answers = CounterMetricFamily("supportbot_answers", "Answers by status.", labels=["status"])
        for status, n in sorted(stats.answers.items()):
            answers.add_metric([status], n)
        yield answers
        generators = CounterMetricFamily("supportbot_answers_by_generator", "Answers by generator.", labels=["generator"])
        for generator, n in sorted(stats.generators.items()):
            generators.add_metric([generator], n)
        yield generators
        tokens = CounterMetricFamily("supportbot_model_tokens", "Model tokens used.", labels=["kind"])
        tokens.add_metric(["prompt"], stats.prompt_tokens)
        tokens.add_metric(["completion"], stats.completion_tokens)
        yield tokens
        yield CounterMetricFamily("supportbot_model_cost_usd", "Estimated model cost in USD.", value=stats.cost_usd)
        latency = HistogramMetricFamily("supportbot_answer_stage_seconds", "Answer latency per stage.", labels=["stage"])
        for stage, hist in stats.latency.items():
            buckets = [(str(le), n) for le, n in hist.buckets] + [("+Inf", hist.count)]
            latency.add_metric([stage], buckets, hist.sum_seconds)
        yield latency
        runs = CounterMetricFamily("supportbot_sync_runs", "Finished sync runs.", labels=["source", "status"])
        for (source, status), n in sorted(stats.syncs.items()):
            runs.add_metric([source, status], n)
        yield runs
        docs = CounterMetricFamily("supportbot_sync_documents", "Documents seen by syncs.", labels=["source", "outcome"])
        for (source, outcome), n in sorted(stats.synced_documents.items()):
            docs.add_metric([source, outcome], n)
        yield docs
        jobs = CounterMetricFamily("supportbot_job_runs", "Finished job runs by outcome.", labels=["job", "status"])
        for (job, status), n in sorted(stats.jobs.items()):
            jobs.add_metric([job, status], n)
        yield jobs


def metrics_exposition(sessions: sessionmaker[Session]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(sessions))
    return generate_latest(registry)
