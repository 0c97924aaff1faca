"""Pure domain logic: no AWS SDK, no environment variables."""
