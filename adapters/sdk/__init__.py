"""What publishes to the log from outside the pipeline: the client, the publisher, the importer and the
replay of dead letters."""
