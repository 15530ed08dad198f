"""`python -m sandbox --port 8100 [--host 127.0.0.1] [--db PATH] [--seed N] [--reset]`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from sandbox.config import ConfigError, config_from_env, parse_bool
from sandbox.server import build_server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="A local athenaOne look-alike.")
    parser.add_argument("--host", default=env.get("SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("SANDBOX_PORT", "8100")))
    parser.add_argument(
        "--db",
        default=env.get("SANDBOX_DB", "var/sandbox.sqlite3"),
        help="SQLite file holding the sandbox's state (default var/sandbox.sqlite3)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the synthetic world (default 1)")
    parser.add_argument(
        "--reset",
        action="store_true",
        default=parse_bool(env.get("SANDBOX_RESET", "false")),
        help="empty the database and seed it again on start",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        default=parse_bool(env.get("SANDBOX_VERBOSE", "false")),
        help="print an access log line per request",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config: dict[str, Any] = config_from_env()
    except (ValueError, OSError) as exc:
        print(f"sandbox: bad SANDBOX_CONFIG: {exc}", file=sys.stderr)
        return 2
    if args.seed is not None:
        config["seed"] = args.seed
    try:
        server = build_server(
            host=args.host, port=args.port, db=args.db, reset=args.reset, verbose=args.verbose, config=config
        )
    except ConfigError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    state = server.app.state
    if args.seed is not None and state.seed != args.seed and not args.reset:
        print(f"sandbox: {args.db} holds seed {state.seed}; pass --reset to reseed with {args.seed}", file=sys.stderr)
    print(
        f"athena sandbox listening on {server.url} (practice {state.config['practice_id']}, seed {state.seed}, "
        f"db {args.db})",
        flush=True,
    )

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
