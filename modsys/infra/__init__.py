"""Infrastructure: settings, the database engine and migrations, logging, crypto, signed links."""
