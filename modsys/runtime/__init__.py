"""Above the services: the scheduler and its jobs, outbox delivery, the scoring worker, demo data."""
