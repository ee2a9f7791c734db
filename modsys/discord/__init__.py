"""Discord: the bot's REST client and enforcement (issue 11), interactions,
slash commands and OAuth2 sign-in (issue 12)."""
