"""Adapters to the outside world: Discord (REST, gateway, vault, webhooks), images."""
