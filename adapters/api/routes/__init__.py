"""The query API's routes, one router a resource. Each module's `router(api)` closes over the app's
`QueryApi` (adapters/api/state.py); adapters/api/app.py includes them in a fixed order (a literal path
such as /v1/customers/search before the /v1/customers/{contact_id} that would also match it)."""
