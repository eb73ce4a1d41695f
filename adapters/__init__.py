"""touchstream.adapters — every door to the world: logs, read stores, the master record, the gateway, the
query API, the CLI, the SDK. Import each module by its own name; this package re-exports nothing, so
importing one door never loads another."""
