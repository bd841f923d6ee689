"""``deepfake-detector tokens create | list | revoke``: the service's API tokens.

They use the database ``serve`` uses (``DFD_DATABASE_URL``, else the SQLite file in
``DFD_DATA_DIR``). The embedded SQLite database is migrated first, as ``serve`` would; a shared
database must be at the current revision already (``deepfake-detector db upgrade``).

``create`` prints the token alone on standard output, once (it is stored only as a hash), and
what it is on standard error, so ``TOKEN=$(deepfake-detector tokens create --name ci)`` works.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from deepfake_detector.service.db import Token


def add_tokens_parser(subparsers: Any) -> None:
    """Add the ``tokens`` subcommand (sets ``handler``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", help="folder of the embedded database (DFD_DATA_DIR; or DFD_DATABASE_URL)"
    )
    t = subparsers.add_parser(
        "tokens",
        help="API tokens for the web service: create, list, revoke",
        description="Manage the API tokens that `serve` accepts (Authorization: Bearer <token>; "
        "required when it listens on a non-loopback address or with DFD_AUTH=required).",
    )
    actions = t.add_subparsers(dest="tokens_action", required=True, metavar="ACTION")
    c = actions.add_parser(
        "create",
        parents=[common],
        help="create a token and print it (shown only this once)",
        description="Create a token and print it on standard output; only its hash is kept.",
    )
    c.add_argument("--name", default="", help="what or who it is for (shown by `tokens list`)")
    c.add_argument(
        "--read-only",
        action="store_true",
        help="it can read analyses but not upload or delete",
    )
    actions.add_parser(
        "list",
        parents=[common],
        help="every token: prefix, name, scope, created, last used, revoked",
    )
    r = actions.add_parser(
        "revoke",
        parents=[common],
        help="revoke a token (refused from then on, also in signed-in browsers)",
    )
    r.add_argument(
        "token", metavar="PREFIX-or-ID", help="the prefix `tokens list` shows, or the id"
    )
    t.set_defaults(handler=run_tokens)


def _when(moment: datetime | None, never: str = "-") -> str:
    return never if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _scope(token: Token) -> str:
    return "read-only" if token.read_only else "read-write"


def _table(tokens: list[Token]) -> str:
    columns = ("PREFIX", "NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED", "ID")
    rows = [
        (
            f"{t.prefix}…",
            t.name or "-",
            _scope(t),
            _when(t.created_at),
            _when(t.last_used_at, "never"),
            _when(t.revoked_at),
            t.id,
        )
        for t in tokens
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [columns, *rows]
    return "".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in lines
    )


def run_tokens(args: argparse.Namespace) -> int:
    from deepfake_detector.service import auth
    from deepfake_detector.service.cli_serve import _apply_overrides, _one_line
    from deepfake_detector.service.db import current_revision, head_revision
    from deepfake_detector.service.jobstore import JobStore

    action = args.tokens_action
    settings = _apply_overrides(args)  # --data-dir, DFD_*, the private umask: as `serve`
    try:
        store = JobStore.from_url(
            settings.resolved_database_url(), migrate=not settings.database_url
        )
    except Exception as exc:
        print(f"tokens {action}: {_one_line(exc)}", file=sys.stderr)
        return 1
    try:
        if settings.database_url and current_revision(store.engine) != head_revision():
            print(
                f"tokens {action}: the database schema is not up to date; run "
                "`deepfake-detector db upgrade` once (with the same DFD_DATABASE_URL)",
                file=sys.stderr,
            )
            return 2
        if action == "create":
            try:
                made = auth.create_token(store, args.name, args.read_only)
            except ValueError as exc:
                print(f"tokens create: {exc}", file=sys.stderr)
                return 2
            token = made.token
            print(made.secret)
            print(
                f"created {_scope(token)} token {token.prefix}… (id {token.id}"
                + (f", name {token.name!r}" if token.name else "")
                + "). It is shown only now and cannot be recovered: keep it somewhere safe.",
                file=sys.stderr,
            )
            return 0
        if action == "list":
            tokens = store.tokens()
            if not tokens:
                print(
                    "no tokens yet (create one with `deepfake-detector tokens create`)",
                    file=sys.stderr,
                )
                return 0
            sys.stdout.write(_table(tokens))
            return 0
        found = auth.find_token(store, args.token)
        if found is None:
            print(
                f"tokens revoke: no token with the prefix or id {args.token!r} "
                "(see `deepfake-detector tokens list`)",
                file=sys.stderr,
            )
            return 1
        if found.revoked_at is not None:
            print(f"token {found.prefix}… was already revoked on {_when(found.revoked_at)}")
            return 0
        revoked = store.revoke_token(found.id)
        assert revoked is not None and revoked.revoked_at is not None
        print(f"revoked token {revoked.prefix}…" + (f" ({revoked.name})" if revoked.name else ""))
        return 0
    except Exception as exc:  # unreachable server, locked file: one line, no traceback
        print(f"tokens {action}: {_one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        store.close()
