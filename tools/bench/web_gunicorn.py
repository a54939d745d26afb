# gunicorn settings for make bench's web-service benchmark (tools/bench/web_app.py).
# The runner passes the bind address (127.0.0.1 only) and the worker count.
worker_class = "sync"
preload_app = False      # each worker builds its own catalog after the fork
graceful_timeout = 5
timeout = 120            # a worker stopped by a slow attach must not be killed as stuck
accesslog = None
loglevel = "warning"


def worker_exit(server, worker):
    # The app's atexit hook writes mtp.stats(); make sure it runs in the worker.
    try:
        import web_app
        web_app._write_stats()
    except Exception:  # noqa: BLE001 -- a benchmark helper must not break shutdown
        pass
