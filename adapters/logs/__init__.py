"""The event logs: the embedded SQLite log, Kafka, topic creation, consumer-group offsets."""
