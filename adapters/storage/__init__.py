"""The read stores: chDB (embedded), the ClickHouse server, migrations and cluster DDL."""
