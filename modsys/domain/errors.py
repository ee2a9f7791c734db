"""Domain errors. Each carries a message a person can act on; the web layer maps
them to HTTP status codes (`http_status`) without deciding anything itself."""

from __future__ import annotations


class DomainError(Exception):
    http_status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    """Input is malformed or out of bounds."""

    http_status = 422


class PermissionDenied(DomainError):
    http_status = 403


class NotFound(DomainError):
    http_status = 404


class Conflict(DomainError):
    """The request clashes with the current state (duplicate, already decided...)."""

    http_status = 409


class PolicyViolation(DomainError):
    """The request is well-formed but the community's policy does not allow it."""

    http_status = 422


class InvalidTransition(Conflict):
    """A state machine move that the transition table forbids."""


class PolicyError(Exception):
    """A policy file is invalid: names the file, the field and the reason."""
