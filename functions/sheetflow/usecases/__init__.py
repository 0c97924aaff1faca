"""Use cases: each one orchestrates pure logic and the adapters for one function or route."""
