"""optuna-dashboard on a study's Optuna storage, whatever ``WSSS_OPTUNA_STORAGE`` names (an
RDB URL or ``journal:PATH``: study.stores), printing the address it really bound.

    python -m study.dashboard STORAGE [--host 127.0.0.1] [--port 8081]

``--port 0`` takes a free port chosen by the system (what tests and ``wsss ui`` do); the
line ``Listening on http://HOST:PORT/`` names it. Needs the ``ui`` extra.
"""

from __future__ import annotations

import argparse
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("storage", help="an RDB URL or journal:/abs/path")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    from optuna_dashboard import wsgi

    from study.stores import open_optuna

    httpd = make_server(args.host, args.port, wsgi(open_optuna(args.storage)),
                        server_class=_Server, handler_class=_Quiet)
    print(f"Listening on http://{args.host}:{httpd.server_port}/", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
