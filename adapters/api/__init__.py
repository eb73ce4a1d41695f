"""The query API: routers, tokens, the SQL door, the dashboard and the live feed."""
