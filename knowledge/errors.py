"""The small exception hierarchy. Messages are written for operators and users; the edges
(CLI, Slack `@app.error`) show `str(exc)` for these and a generic apology for anything else."""


class SupportBotError(Exception):
    """Base class: an expected failure with a message fit to show."""


class ConfigurationError(SupportBotError):
    """Settings or environment are wrong (bad URL, missing key, unreachable server)."""


class EmbeddingMismatchError(SupportBotError):
    """The configured embedder differs from the one that produced the stored vectors."""


class SourceError(SupportBotError):
    """A help-center source could not be listed or fetched."""


class NotFoundError(SupportBotError):
    """A named thing (source, document, model) does not exist."""


class AlreadyRunningError(SupportBotError):
    """The same job is already running somewhere."""


class ModelError(SupportBotError):
    """The chat model could not produce an answer (after retries)."""


class ModelUnavailable(ModelError):
    """The model is gone or refused (404, deprecated, no access): try the next one, don't retry."""


class PromotionRefused(SupportBotError):
    """A candidate model is not fit to answer customers (no evaluation, or it regresses)."""


class FineTuningUnavailable(SupportBotError):
    """The provider refuses fine-tuning jobs (e.g. after OpenAI's self-serve shutdown)."""
