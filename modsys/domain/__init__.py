"""The domain: models, the kind registry, policy, the appeal state machine, reasons, events, errors. No I/O beyond the ORM models."""
