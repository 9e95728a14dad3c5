"""The `qualibot` command."""

from __future__ import annotations

import errno
import getpass
import json
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import IO, Any

import click

from bot.config import ConfigError, load_settings
from bot.erasure import ErasedLead, Erasure, is_erased
from bot.errors import QualibotError
from bot.export import export_rows, write_csv, write_jsonl
from bot.leads import EventView, ScoreView
from bot.runtime import Runtime, build_runtime
from bot.service import TurnResult
from bot.slack.notices import SETTLED_WORDS, STATUS_PHRASES
from flows.definitions import DefinitionError, load_frameworks
from flows.parsing import parse_answer
from storage.db import DatabaseUnavailable
from storage.migrate import DatabaseNotMigrated
from storage.models import LEAD_STATUSES, normalise_email

PARSE_TYPES = ("money", "timeframe", "authority", "yesno", "name", "company")
CHAT_HELP = "Type your answer. Words that work at any time: back, skip, cancel, restart."


@contextmanager
def _runtime(*, check_schema: bool = True) -> Iterator[Runtime]:
    """Build the runtime, turning start-up problems into a clear message and exit code 1."""
    try:
        runtime = build_runtime(load_settings(), check_schema=check_schema)
    except (ConfigError, DefinitionError, DatabaseUnavailable, DatabaseNotMigrated) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield runtime
    finally:
        runtime.close()


@click.group(help="Qualibot: qualify sales leads through conversation.")
@click.version_option(package_name="qualibot")
def main() -> None:
    pass


@main.command()
@click.argument("words", nargs=-1, metavar="[FRAMEWORK] [COMPANY]")
@click.option("--framework", "-f", help="bant, champ, meddic or gpctba.")
@click.option("--company", "-c", help="The company (lead) you are qualifying.")
@click.option("--resume", "resume_id", type=int, help="Continue conversation ID instead.")
@click.option("--as", "user", default=None, help="Who is qualifying (default: your login).")
def chat(
    words: tuple[str, ...],
    framework: str | None,
    company: str | None,
    resume_id: int | None,
    user: str | None,
) -> None:
    """Qualify a lead in the terminal, as a rep would in Slack: `qualibot chat meddic Acme`
    (as `/qualify meddic Acme`), or with --framework and --company."""
    framework, company = _chat_target(words, framework, company, resume_id)
    user = user or getpass.getuser()
    with _runtime() as rt:
        try:
            if resume_id is not None:
                result = rt.service.resume(resume_id, by=user)
            else:
                assert framework is not None and company is not None  # by _chat_target
                result = rt.service.start(
                    framework=framework, company=company, channel="cli", participant=user
                )
        except QualibotError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(
            f"Qualifying {result.company} with {result.framework.upper()} "
            f"(lead {result.lead_id}, conversation {result.conversation_id})."
        )
        click.echo(CHAT_HELP)
        _chat_loop(rt, result, user)


def _chat_target(
    words: tuple[str, ...], framework: str | None, company: str | None, resume_id: int | None
) -> tuple[str | None, str | None]:
    """The framework and company from `FRAMEWORK COMPANY...` or the options (not both);
    neither is needed to resume."""
    if words:
        if framework or company:
            raise click.UsageError(
                "Give the framework and company either as words (qualibot chat meddic Acme) "
                "or with --framework/--company, not both."
            )
        framework, company = words[0], " ".join(words[1:]) or None
    if resume_id is not None:
        if words:
            raise click.UsageError("--resume continues a conversation: give no framework "
                                   "or company with it.")
        return None, None
    if not framework:
        raise click.UsageError(
            "Which framework? e.g. qualibot chat meddic \"Acme\" (see qualibot frameworks), "
            "or --resume ID to continue a conversation."
        )
    if not company:
        raise click.UsageError(
            f"Which company? e.g. qualibot chat {framework} \"Acme\", or --resume ID."
        )
    return framework, company


def _chat_loop(rt: Runtime, result: TurnResult, user: str) -> None:
    _print_messages(result.messages)
    while not result.done and result.state not in ("cancelled", "abandoned"):
        try:
            text = input("> ")
        except (EOFError, KeyboardInterrupt):
            click.echo(
                f"\nPaused. Continue with: qualibot chat --resume {result.conversation_id}"
            )
            return
        if not text.strip():
            continue
        try:
            picked = _numbered_option(result.messages, text)
            if picked is not None:  # the options are listed with numbers here
                result = rt.service.choose(result.conversation_id, picked, by=user)
            else:
                result = rt.service.answer(result.conversation_id, text, by=user)
        except QualibotError as exc:
            click.echo(str(exc))
            continue
        _print_messages(result.messages)
    if result.state == "cancelled":
        click.echo(
            f"Resume later with: qualibot chat --resume {result.conversation_id}"
        )


def _numbered_option(messages: list[dict[str, Any]], text: str) -> str | None:
    """The value of the option numbered `text` in the question just printed, if any."""
    questions = [m["question"] for m in messages if m["kind"] == "question"]
    options = questions[-1]["options"] if questions else []
    number = text.strip()
    if number.isdigit() and 1 <= int(number) <= len(options):
        return str(options[int(number) - 1]["value"])
    return None


def _print_messages(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        kind = message["kind"]
        if kind == "question":
            question = message["question"]
            position = message.get("position")
            prefix = f"[{position['index']}/{position['total']}] " if position else ""
            click.secho(prefix + message["text"], bold=True)
            for number, option in enumerate(question["options"], start=1):
                click.echo(f"   {number}. {option['label']}")
        elif kind == "summary":
            click.echo()
            click.secho(message["text"], fg=_verdict_colour(message.get("verdict")))
        elif kind == "readback":
            click.secho(f"  ✓ {message['text']}", fg="green")
        else:
            click.echo(message["text"])


def _verdict_colour(verdict: str | None) -> str:
    return {"qualified": "green", "nurture": "yellow", "disqualified": "red"}.get(
        verdict or "", "white"
    )


@main.command()
@click.argument("answer_type", metavar="TYPE", type=click.Choice(PARSE_TYPES))
@click.argument("text")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Read relative times as of this date (YYYY-MM-DD).",
)
def parse(answer_type: str, text: str, today: Any) -> None:
    """Show how an answer is read, as JSON. TEXT '-' reads one answer per line from stdin."""
    as_of: date = today.date() if today else date.today()
    lines = (line.rstrip("\n") for line in sys.stdin) if text == "-" else iter([text])
    for line in lines:
        click.echo(json.dumps(parse_answer(answer_type, line, today=as_of), ensure_ascii=False))


@main.command()
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=1),
    help="How many leads to list.",
)
@click.option(
    "--all", "show_all", is_flag=True,
    help="Include website chats started but with nothing answered yet.",
)
@click.option(
    "--status", type=click.Choice(LEAD_STATUSES),
    help="Only leads with this status (the verdict, or what a rep decided since).",
)
@click.option(
    "--unclaimed", is_flag=True,
    help="Only leads nobody has claimed or been assigned.",
)
def leads(limit: int, show_all: bool, status: str | None, unclaimed: bool) -> None:
    """List leads, newest first, with score, verdict, status (what a rep decided since the
    verdict, or the outcome: won / lost) and owner. `--status qualified --unclaimed`: the
    qualified leads nobody has taken yet."""
    filtered = status is not None or unclaimed
    with _runtime() as rt:
        rows = rt.leads.recent(limit=limit, unanswered_widget=show_all, status=status,
                               unowned=unclaimed)
        hidden = 0 if show_all or filtered else rt.leads.count_unanswered_widget()
    if not rows:
        if filtered:
            click.echo("No leads match.")
            return
        click.echo('No leads yet. Start one with: qualibot chat bant "Acme"')
        if hidden:
            click.echo(f"({_unanswered(hidden)}: qualibot leads --all)")
        return
    click.echo(
        f"{'ID':>5}  {'COMPANY':<28} {'FRAMEWORK':<9} {'SOURCE':<7} {'SCORE':>6}  "
        f"{'VERDICT':<12} {'STATUS':<12} OWNER"
    )
    for lead in rows:
        score = f"{lead.score_total:.1f}" if lead.score_total is not None else "-"
        click.echo(
            f"{lead.id:>5}  {lead.company[:28]:<28} {lead.framework:<9} "
            f"{lead.source:<7} {score:>6}  {lead.verdict or '-':<12} {lead.status:<12} "
            f"{lead.owner or '-'}"
        )
    if hidden:
        click.echo(f"(not listed: {_unanswered(hidden)}; qualibot leads --all lists them)")


@main.command()
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
    help="csv: one row per lead; jsonl: one JSON object per line, with the answers too.",
)
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only leads created on or after this day (UTC), e.g. 2026-12-01.",
)
@click.option(
    "--all", "show_all", is_flag=True,
    help="Include website chats started but with nothing answered yet.",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-",
    show_default=True, help="File to write (- : standard output).",
)
def export(fmt: str, since: datetime | None, show_all: bool, output: str) -> None:
    """Export leads, oldest first, for a spreadsheet or a CRM: company, contact, source,
    framework, score, verdict, status and its reason, owner, and times (UTC). Text that a
    spreadsheet would run as a formula is written with a leading '."""
    write: Callable[[Iterator[dict[str, Any]], IO[str]], int] = (
        write_csv if fmt == "csv" else write_jsonl
    )
    with _runtime() as rt:
        rows = export_rows(rt.sessions, since=since.replace(tzinfo=UTC) if since else None,
                           unanswered_widget=show_all)
        if output == "-":
            count = write(rows, sys.stdout)
        else:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count = write(rows, out)
    click.echo(f"Exported {count:,} {_leads(count)}.", err=True)


def _unanswered(count: int) -> str:
    visitors = "visitor" if count == 1 else "visitors"
    return f"{count:,} website {visitors} who started a chat but answered nothing yet"


@main.command()
@click.argument("lead_id", type=int)
def show(lead_id: int) -> None:
    """Print a lead's answers, score breakdown and history (scores and reps' actions)."""
    with _runtime() as rt:
        try:
            detail = rt.leads.detail(lead_id)
        except QualibotError as exc:
            raise click.ClickException(str(exc)) from exc
    lead = detail.lead
    click.secho(f"Lead {lead.id}: {lead.company}", bold=True)
    contact = ", ".join(x for x in (detail.contact_name, detail.contact_email) if x)
    click.echo(
        f"Contact: {contact or '-'}   Source: {lead.source}   Status: {lead.status}"
        f"   Owner: {lead.owner or '-'}"
    )
    if detail.status_reason:
        click.echo(f"Reason: {detail.status_reason}")
    click.echo("\nAnswers (as given, oldest first):")
    for answer in detail.answers:
        raw = answer.raw_text if answer.status == "answered" else f"({answer.status})"
        click.echo(f"  {answer.question_id:<20} {raw}")
    if detail.scores:
        latest = detail.scores[-1]
        click.echo(
            f"\nScore: {latest.total:.1f}/100 — {latest.verdict} "
            f"({latest.framework.upper()} v{latest.framework_version})"
        )
        for criterion in latest.breakdown.get("criteria", []):
            click.echo(f"  {criterion['reason']}")
        for gate in latest.breakdown.get("gates", []):
            if not gate.get("passed", True):
                click.echo(f"  Gate not passed: {gate['reason']}")
    else:
        click.echo("\nNot scored yet (the qualification is not complete).")
    history = detail.history()
    if history:
        click.echo("\nHistory (UTC):")
        for item in history:
            click.echo(f"  {item.created_at.astimezone(UTC):%Y-%m-%d %H:%M}  {_history_line(item)}")


def _history_line(item: ScoreView | EventView) -> str:
    """"scored 82.0/100, qualified (BANT)", "disqualified by U123: Student project",
    "assigned by round-robin to U123", ... (`bot.slack.notices.history_line` in plain text)."""
    if isinstance(item, ScoreView):
        return f"scored {item.total:.1f}/100, {item.verdict} ({item.framework.upper()})"
    phrase = STATUS_PHRASES.get(item.kind, item.kind + " by {by}")
    by = item.detail.get("to") if item.kind == "assigned" else item.actor
    text = phrase.format(by=by or "Qualibot")
    text = text[0].lower() + text[1:]
    if item.reason:
        text += f": {item.reason}"
    if item.kind == "reopened" and item.detail.get("was"):
        was = str(item.detail["was"])
        text += f" (it was {SETTLED_WORDS.get(was, was)}"
        text += f": {item.detail['was_reason']})" if item.detail.get("was_reason") else ")"
    return text


@main.command()
@click.argument("lead_ids", nargs=-1, type=int, metavar="[LEAD_ID]...")
@click.option(
    "--all", "every", is_flag=True,
    help="Re-score every lead with a completed qualification.",
)
def rescore(lead_ids: tuple[int, ...], every: bool) -> None:
    """Score leads again as of today, from their answers: answers age ("this quarter"
    passes), and weights, thresholds and frameworks change. The status follows the new
    verdict unless a rep decided the lead or it has an outcome; a lead that becomes
    qualified gets its handoff notice (sent by `qualibot serve`)."""
    if every == bool(lead_ids):
        raise click.UsageError("Give the lead ids to re-score, or --all (not both).")
    with _runtime() as rt:
        if every:
            summary = rt.service.rescore_all()
            click.echo(f"Re-scored {summary.scored:,} {_leads(summary.scored)} as of "
                       f"{date.today():%Y-%m-%d}.")
            changed = sum(summary.changed.values())
            click.echo(f"Verdict changed for {changed:,} {_leads(changed)}"
                       + (":" if changed else "."))
            for (before, after), count in sorted(summary.changed.items(), key=str):
                click.echo(f"  {before or 'not scored'} -> {after}: {count:,}")
            if summary.handed_off:
                click.echo(f"Handoff notices queued: {summary.handed_off:,} (sent by the "
                           "running `qualibot serve`).")
            return
        failed = False
        for lead_id in lead_ids:
            try:
                lead = rt.leads.detail(lead_id).lead
                result = rt.service.score(lead_id)
            except QualibotError as exc:
                click.echo(f"Lead {lead_id}: {exc}", err=True)
                failed = True
                continue
            was = (f"{lead.score_total:.1f} {lead.verdict}"
                   if lead.score_total is not None else "not scored")
            click.echo(f"Lead {lead_id} ({lead.company}): {was} -> "
                       f"{result.total:.1f} {result.verdict}")
        if failed:
            raise SystemExit(1)


def _leads(count: int) -> str:
    return "lead" if count == 1 else "leads"


@main.command()
@click.option("--email", help="Erase every lead with this contact email (any case).")
@click.option("--lead", "lead_id", type=int, help="Erase this lead.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
def forget(email: str | None, lead_id: int | None, yes: bool) -> None:
    """Erase a person's data on request (GDPR right to erasure): their leads with the
    conversations, answers, scores and history, and the copies in the Slack outbox. The
    handoff notices posted in Slack are deleted by the running `qualibot serve`."""
    if (email is None) == (lead_id is None):
        raise click.UsageError("Give --email or --lead (one of them).")
    if email is not None and normalise_email(email) is None:
        raise click.UsageError("--email is empty.")
    nothing = (f"No lead has the contact email {normalise_email(email)}." if email is not None
               else f"There is no lead {lead_id}.")
    with _runtime() as rt:
        erasure = Erasure(rt.sessions, on_outbox=rt.notify_outbox)
        found = erasure.find(email=email, lead_id=lead_id)
        if not found:
            raise click.ClickException(nothing)
        click.echo(f"This erases {_count(len(found), 'lead')} and everything stored about "
                   f"{'it' if len(found) == 1 else 'them'}; it cannot be undone:")
        for lead in found:
            contact = ", ".join(x for x in (lead.contact_name, lead.contact_email) if x)
            click.echo(
                f"  lead {lead.id} ({lead.company}; {lead.source}"
                f"{'; ' + contact if contact else ''}): {_erased_counts(lead)}, "
                f"{_count(lead.notices, 'Slack notice')}, "
                f"{_count(lead.undelivered + lead.scrubbed, 'outbox message')}"
            )
        if not yes and not click.confirm("Erase?", default=False):
            click.echo("Nothing was erased.")
            raise SystemExit(1)
        erased = erasure.erase(email=email, lead_id=lead_id)
    if not erased:  # erased by someone else in the meantime
        raise click.ClickException(nothing)
    for lead in erased:
        notices = (f"; {_count(lead.notices, 'Slack notice')} will be deleted by the "
                   "running server" if lead.notices else "")
        click.echo(f"Erased lead {lead.id} ({lead.company}): {_erased_counts(lead)}{notices}.")
    undelivered = sum(lead.undelivered for lead in erased)
    scrubbed = sum(lead.scrubbed for lead in erased)
    outbox = [
        *([f"{scrubbed:,} sent (or failed) no longer {'holds' if scrubbed == 1 else 'hold'} "
            "the data"]
          if scrubbed else []),
        *([f"{undelivered:,} not sent yet never will be"] if undelivered else []),
    ]
    if outbox:
        click.echo(f"Messages to Slack about {'it' if len(erased) == 1 else 'them'}: "
                   f"{'; '.join(outbox)}.")
    if any(lead.notices for lead in erased):
        click.echo("The notices are deleted by `qualibot serve` (its outbox dispatcher): if it "
                   "is not running, when it next starts.")


def _erased_counts(lead: ErasedLead) -> str:
    return (f"{_count(lead.conversations, 'conversation')}, {_count(lead.answers, 'answer')}, "
            f"{_count(lead.scores, 'score')}")


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@main.command()
def frameworks() -> None:
    """List the qualification frameworks available."""
    try:
        config = load_settings().load_file_config()
        found = load_frameworks(config.framework_dirs, config.frameworks)
    except (ConfigError, DefinitionError) as exc:
        raise click.ClickException(str(exc)) from exc
    for fw in found.values():
        criteria = ", ".join(c.id for c in fw.criteria)
        click.echo(f"{fw.id:<8} {fw.name} (v{fw.version}): {criteria}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=3000, show_default=True, type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@click.option(
    "--socket-mode",
    is_flag=True,
    help="Receive Slack's events over Socket Mode (needs SLACK_APP_TOKEN) instead of HTTP.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def serve(host: str, port: int, socket_mode: bool, log_level: str) -> None:
    """Run the server: Slack (POST /slack/events), the website widget and /healthz."""
    import logging

    import uvicorn

    from bot.server import create_server, freeze_startup_heap
    from bot.slack.app import build_slack
    from bot.widget.sweeper import create_sweeper

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # transitions logs every callback of every turn at INFO: keep it for --log-level debug.
    if log_level != "debug":
        logging.getLogger("transitions").setLevel(logging.WARNING)
        # Alembic says which database kind it drives at every start ("Context impl
        # SQLiteImpl.", "Will assume ... DDL."); only the upgrades it runs are news.
        logging.getLogger("alembic.runtime.migration").addFilter(
            lambda record: record.getMessage().startswith("Running ")
            or record.levelno > logging.INFO
        )
    sock = _listening_socket(host, port)  # before anything starts (the outbox dispatcher)
    with _runtime() as rt:
        slack = build_slack(rt, socket_mode=socket_mode)
        try:
            api = create_server(
                rt,
                slack_app=slack.app if slack is not None and slack.serve_http else None,
                # The idle sweeper marks widget sessions left too long as abandoned.
                background=[*([slack] if slack is not None else []), create_sweeper(rt)],
            )
        except ConfigError as exc:  # the [widget] section, read by the widget's routes
            raise click.ClickException(str(exc)) from exc
        freeze_startup_heap()
        config = uvicorn.Config(
            api, log_level=log_level, timeout_keep_alive=KEEP_ALIVE_SECONDS
        )
        # (uvicorn says where it listens only for sockets it opens itself)
        shown = f"[{host}]" if ":" in host else host
        logging.getLogger("bot.server").info(
            "Qualibot running on http://%s:%d (the demo page is at /; Ctrl+C to stop)",
            shown, sock.getsockname()[1],
        )
        uvicorn.Server(config).run(sockets=[sock])


def _listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound first: a port in use is one clear error, rather than a
    second server that starts its outbox dispatcher and background work and only then fails
    to listen."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
    except socket.gaierror as exc:
        raise click.ClickException(f"Cannot listen on {host}: {exc.strerror}.") from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = (
            " (another qualibot serve, perhaps); pick another with --port"
            if exc.errno == errno.EADDRINUSE else ""
        )
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {exc.strerror}{hint}."
        ) from exc
    return sock


#: Seconds an idle keep-alive connection stays open. Longer than a balancer's or client's own
#: idle timeout (nginx keeps upstream connections 60 s; httpx 5 s, like uvicorn's default):
#: otherwise a request sent just as the server closes the connection is lost on the way
#: (the soak test saw it as a read error).
KEEP_ALIVE_SECONDS = 75


@main.group()
def db() -> None:
    """Database administration."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the database migrations (needed once per release on PostgreSQL)."""
    from alembic.util.exc import CommandError

    from storage.migrate import current_revision, upgrade

    with _runtime(check_schema=False) as rt:
        try:
            upgrade(rt.engine, revision)
        except DatabaseNotMigrated as exc:
            raise click.ClickException(str(exc)) from exc
        except CommandError as exc:  # an unknown revision, or one behind the database
            raise click.ClickException(f"Cannot upgrade to {revision!r}: {exc}") from exc
        click.echo(f"Database is at revision {current_revision(rt.engine)}.")


@db.command("current")
def db_current() -> None:
    """Show the database's migration revision and the one this version expects."""
    from storage.migrate import current_revision, head_revision

    with _runtime(check_schema=False) as rt:
        click.echo(
            f"current: {current_revision(rt.engine) or '(empty)'}  expected: {head_revision()}"
        )


@main.group(invoke_without_command=True)
@click.option("--failed", is_flag=True, help="List the messages that failed, newest first.")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(min=1),
    help="How many failed messages.",
)
@click.pass_context
def outbox(ctx: click.Context, failed: bool, limit: int) -> None:
    """The Slack outbox: how many messages are pending, sent and failed."""
    if ctx.invoked_subcommand is not None:
        return
    from bot.slack.clients import InactiveWorkspaces
    from storage.repositories import OutboxRepository

    with _runtime() as rt, rt.sessions() as session:
        repo = OutboxRepository(session)
        inactive = InactiveWorkspaces(rt.sessions, single=False).all()
        if not failed:
            counts = repo.count_by_status()
            click.echo("  ".join(f"{status}: {n}" for status, n in counts.items()))
            if inactive:
                click.echo(f"Inactive Slack workspaces: {len(inactive)}")
            if counts.get("failed") or inactive:
                click.echo("See them with: qualibot outbox --failed")
            return
        for mark in inactive:
            click.echo(f"Inactive: {mark.describe()}.")
        rows = repo.list_failed(limit)
        if not rows:
            click.echo("No failed messages.")
            return
        click.echo(f"{'ID':>6}  {'KIND':<13} {'LANE':<22} {'ATTEMPTS':>8}  {'CREATED':<16}  ERROR")
        for row in rows:
            error = " ".join((row.last_error or "-").split())
            click.echo(
                f"{row.id:>6}  {row.kind:<13} {row.lane[:22]:<22} {row.attempts:>8}  "
                f"{row.created_at:%Y-%m-%d %H:%M}  {error}"
            )
        click.echo("Send one again with: qualibot outbox retry ID")


@outbox.command("retry")
@click.argument("message_id", type=int)
@click.option(
    "--force",
    is_flag=True,
    help="Send even if an earlier attempt may have arrived and cannot be checked "
    "(ephemeral messages): it may then show twice.",
)
def outbox_retry(message_id: int, force: bool) -> None:
    """Queue a failed message for delivery again (now, with a fresh count of attempts).

    If an earlier attempt may have reached Slack, the dispatcher looks for it in the
    channel's history first and does not post it twice."""
    from storage.models import OutboxMessage, utcnow
    from storage.repositories import OutboxRepository

    with _runtime() as rt, rt.sessions.begin() as session:
        row = session.get(OutboxMessage, message_id)
        if row is None:
            raise click.ClickException(f"There is no outbox message {message_id}.")
        if row.status == "sent":
            raise click.ClickException(
                f"Outbox message {message_id} was already sent; it is not sent twice."
            )
        if is_erased(row.payload):
            raise click.ClickException(
                f"Outbox message {message_id} was erased (qualibot forget): there is nothing "
                "to send."
            )
        result = dict(row.result or {})
        if row.status == "pending" and "inflight" in result and row.next_attempt_at > utcnow():
            raise click.ClickException(
                f"Outbox message {message_id} is being delivered right now."
            )
        OutboxRepository(session).requeue(message_id)
        for counter in ("transient", "rate_limited", *(("uncertain",) if force else ())):
            result.pop(counter, None)
        row.result = result or None
        kind, lane = row.kind, row.lane
    click.echo(f"Outbox message {message_id} ({kind}, {lane}) is queued for delivery again.")


if __name__ == "__main__":  # pragma: no cover
    main()
