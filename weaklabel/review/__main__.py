"""``python -m weaklabel.review <run folder>``: serve the review app and print its URL."""

from __future__ import annotations

import argparse
import logging
import sys

from weaklabel.exceptions import WeaklabelError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m weaklabel.review",
        description="Browse, label and refit a finished weaklabel.fit run in the browser.",
    )
    parser.add_argument("run", help="the output_dir of a finished run (holds probs.parquet, metrics.json, ...)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; any other address adds a token to the URL)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--lf-module", default=None,
                        help="the LF module file accepted suggestions are appended to (created if missing)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from weaklabel.review.loop import ReviewSession
    from weaklabel.review.run_data import RunData
    from weaklabel.review.server import ReviewServer

    try:
        session = ReviewSession(RunData.open(args.run), lf_module=args.lf_module)
        server = ReviewServer(session, host=args.host, port=args.port)
    except WeaklabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"weaklabel review of {session.data.config.name}: {server.url}  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 130
    finally:
        server.server_close()
        session.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
