//! Personio v1 HTTP client: the `HrSource` adapter.
