"""Development tools: never in the wheel or the image (pyproject.toml, Dockerfile).

`make up` (up.py) runs the whole service on one machine; localpg.py and pgbinaries.py give it,
the tests and the benchmark a PostgreSQL cluster without Docker; demo_target.py is the
workflow endpoint `make up` fires at; loopback.py serves an ASGI app on 127.0.0.1 in a thread
(the tests' API and recording target, the demo target in tests); asgi.py holds the pieces of
HTTP both loopback targets share; tokens.py makes API tokens through the service; check_sql.py
is the lint `make check` runs for SQL outside db/queries/.

They may import the product (app, db); the product never imports them.
"""
