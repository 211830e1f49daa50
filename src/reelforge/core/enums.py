"""The closed vocabularies of the API: modes, request kinds, job states. String-valued, so they
compare equal to (and serialise as) the wire's own strings."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """What a job renders; a catalog model lists the modes it serves."""

    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"
    REFERENCE_TO_VIDEO = "reference-to-video"
    EDIT = "edit"
    EXTENSION = "extension"


class Kind(StrEnum):
    """Which create endpoint a request came to (generations, edits, extensions)."""

    GENERATION = "generation"
    EDIT = "edit"
    EXTENSION = "extension"


class JobState(StrEnum):
    """A job row's state in the store."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"


class Status(StrEnum):
    """A job's status on the wire: queued and running jobs both read pending."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"
