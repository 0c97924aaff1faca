"""Adapters: the only modules that talk to S3, SQS and DynamoDB."""
