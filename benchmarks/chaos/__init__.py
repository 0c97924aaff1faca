"""`make chaos`: a fault-injection run with an invariant checker (see docs/operations.md)."""
