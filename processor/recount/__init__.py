"""An independent recount of the analytics tables from the topic itself (`verify --from-topic`).

Messages flow from `source` (the Kafka topic, or a producer's JSON-lines file) through `rules`
(valid event or rejection reason) and `tally` (lateness per partition, first copy per event_id)
to `aggregate` (the expected table rows); `compare` reads the stored tables and reports what
differs. Nothing here imports the processor's own parsing or storing code: the rules are written
again, from the spec, so that a processor storing the wrong rows cannot agree with itself.
"""
