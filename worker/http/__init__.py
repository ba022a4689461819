"""The worker's outbound HTTP: what it sends to workflow targets and alert webhooks.

- `wire.py`: a lean HTTP/1.1 client for one request shape (a small POST built ahead of its
  instant), pooled keep-alive connections, a cap per origin; it says what it leaves out.
- `resolver.py`: host names to addresses within each attempt's deadline, with a small cache.
- `target.py`: `HttpTarget`, which sends one attempt's `Delivery` and classifies the answer
  into an `Outcome` (app/domain/outcome.py); it never raises for HTTP or network problems.

docs/operations.md ("The outbound HTTP client") lists what the client does and does not do;
`python -m bench.http_client` measures it against aiohttp and httpx.
"""
