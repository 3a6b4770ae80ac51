"""The message headers that carry a request's idempotency key: `streamdash-request` (the
request) and `streamdash-seq` (the event's index in it). Written by the Kafka log
(`streamdash.log.kafka`), read by the retried-request dedupe (`streamdash.kafka.dedupe`);
a module of their own, so that readers need not import the producer."""

REQUEST_HEADER = "streamdash-request"
SEQ_HEADER = "streamdash-seq"
