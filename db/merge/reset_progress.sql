-- The topic was recreated (a new topic id): its old offsets and event times mean nothing now.
DELETE FROM partition_progress WHERE kafka_topic = %(topic)s
