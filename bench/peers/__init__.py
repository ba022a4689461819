"""The peers, each run in its own processes: Procrastinate's periodic tasks and APScheduler 3."""
