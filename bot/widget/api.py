"""The widget's JSON API under `/widget/api` (documented in the OpenAPI schema).

Every route goes through `WidgetRoute`, which

* refuses browsers on sites that may not embed the widget (403) and answers CORS for those
  that may (the server's own origin, i.e. the demo page, always may);
* caps the request body before it is parsed (413);
* turns every refusal, including FastAPI's validation errors, into
  `{"error": {"code", "message"}}` with the right status: no bad input gets a 500.

The database work runs on a small pool of threads (one on SQLite: writers queue in order
instead of sleeping in SQLite's busy handler), so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import unicodedata
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import OperationalError
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.routing import Match

from bot.runtime import Runtime
from bot.widget.config import WidgetConfig
from bot.widget.sessions import MESSAGE_ID_PATTERN, NewSession, WidgetBackend, WidgetError

log = logging.getLogger(__name__)

T = TypeVar("T")
PREFIX = "/widget/api"
NO_STORE = {"Cache-Control": "no-store"}
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
MAX_JSON_DEPTH = 5




class _AnyPath(Convertor[str]):
    """Like `path`, but newlines too (so that no odd URL escapes the JSON error shape)."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("widget_any", _AnyPath())


# --- request and response bodies -----------------------------------------------------------


INT64 = range(-(2**63), 2**63)


def clean_text(value: str, *, newlines: bool = True) -> str:
    """Text as data: no NULs or other control characters (tabs and, optionally, newlines
    aside), no lone surrogates; surrounding blanks removed."""
    keep = "\n\t" if newlines else "\t"
    return "".join(
        ch for ch in value if ch in keep or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()


def clean_json(value: Any, depth: int = 0) -> Any:
    """Event props as data: strings cleaned, nesting bounded."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"props are nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and value not in INT64:
        # JSON allows any integer; the database's JSON (and most readers) stop at 64 bits.
        raise ValueError("numbers in props must fit in 64 bits")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContactIn(_Body):
    name: str | None = Field(default=None, max_length=200, examples=["Dana Lee"])
    email: str | None = Field(default=None, max_length=320, examples=["dana@acme.example"])
    company: str | None = Field(default=None, max_length=200, examples=["Acme Logistics"])

    @field_validator("name", "email", "company")
    @classmethod
    def _clean(cls, value: str | None) -> str | None:
        return clean_text(value, newlines=False) if value is not None else None


class CreateSessionIn(_Body):
    framework: str | None = Field(
        default=None, max_length=40, description="bant (default), champ, meddic or gpctba"
    )
    locale: str | None = Field(default=None, max_length=64, examples=["en-US"])
    page: str | None = Field(
        default=None, max_length=8000, description="The page the chat was opened on."
    )
    contact: ContactIn | None = Field(
        default=None, description="Contact details already known; the rest are asked."
    )
    consent: bool | None = Field(
        default=None,
        description="The visitor already agreed to the consent text (see the docs); "
        "otherwise it is asked.",
    )
    website: str | None = Field(
        default=None, description="Honeypot: always empty for people. Do not send it."
    )


class MessageIn(_Body):
    text: str | None = Field(
        default=None,
        description="What the visitor typed (the words back, skip and restart work too).",
        examples=["We need one tool for our three regional sales teams"],
    )
    choice: str | None = Field(
        default=None,
        max_length=100,
        description="The `value` of a quick reply of the current question.",
    )
    message_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=MESSAGE_ID_PATTERN,
        description="An id the client makes up for this message (e.g. a UUID), so that "
        "sending it again after a network failure is safe: a message id already handled "
        "in this session changes nothing and gets 200 with the current prompt (the "
        "question now asked, or the closing message). Letters, digits and `.`, `_`, `:`, "
        "`-`; at most 64 characters.",
        examples=["6f1c2a8e-1b1e-4d6c-9a53-0f5b3c1d2e4f"],
    )
    question: str | None = Field(
        default=None,
        max_length=100,
        description="The `id` of the question this message answers (the last one shown). "
        "If the conversation has moved on meanwhile (in another tab, on another device), "
        "nothing is recorded and the answer is 409 `conflict`: fetch the history again.",
        examples=["budget_amount"],
    )
    website: str | None = Field(default=None, description="Honeypot (see sessions).")


class EventIn(_Body):
    event: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$",
        examples=["pricing_viewed"],
    )
    props: dict[str, Any] = Field(default_factory=dict, examples=[{"plan": "growth"}])


class ResumeIn(_Body):
    resume_code: str = Field(min_length=1, max_length=64, examples=["ABCD-1234"])


class OptionOut(BaseModel):
    label: str
    value: str


class QuestionOut(BaseModel):
    id: str = Field(
        examples=["budget_amount"],
        description="The question (unique in the framework; send it back as `question`).",
    )
    criterion: str = Field(examples=["budget"])
    type: str = Field(examples=["choice"])
    skippable: bool = Field(
        default=True, description="Whether `skip` is accepted (contact details: no)."
    )
    options: list[OptionOut] | None = None


class LinkOut(BaseModel):
    label: str
    url: str = Field(description="As it stands in the message's text.")


class MessageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", examples=["bot"], description="bot or visitor")
    text: str
    question: QuestionOut | None = None
    links: list[LinkOut] | None = Field(
        default=None,
        description="URLs in `text` that are links (the nurture closing's resources).",
    )


MAX_MESSAGE_CHARS_FIELD = Field(
    examples=[2000],
    description="The longest `text` accepted, in characters (Unicode code points): the "
    "widget counts down to it before sending.",
)


class SessionCreated(BaseModel):
    session_id: str
    token: str
    resume_code: str = Field(examples=["ABCD-1234"])
    messages: list[MessageOut]
    max_message_chars: int = MAX_MESSAGE_CHARS_FIELD


class OpeningOut(BaseModel):
    messages: list[MessageOut]
    max_message_chars: int = MAX_MESSAGE_CHARS_FIELD


class TurnOut(BaseModel):
    messages: list[MessageOut]
    done: bool


class SessionOut(BaseModel):
    session_id: str
    messages: list[MessageOut]
    done: bool
    state: str = Field(description="The current question's id, or done/cancelled/abandoned.")
    resume_code: str
    max_message_chars: int = MAX_MESSAGE_CHARS_FIELD


class ResumedOut(SessionOut):
    token: str


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Malformed request (e.g. invalid JSON)",
        401: "Missing bearer token",
        403: "The page's origin may not use the widget",
        404: "Unknown session or code, or a token for another session",
        409: "The conversation is finished, or changed concurrently",
        410: "The conversation expired after being idle",
        413: "Message or body too large",
        422: "Invalid request or answer",
        429: "Rate limited; see Retry-After",
    }
    return {s: {"model": ErrorOut, "description": text[s]} for s in statuses}


# --- errors, origins, CORS ------------------------------------------------------------------


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def widget_error_response(exc: WidgetError) -> JSONResponse:
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return error_response(exc.status, exc.code, exc.message, headers)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    if not errors:  # pragma: no cover - FastAPI always says what failed
        return error_response(422, "invalid_request", "The request is not valid.")
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    if first.get("type") == "missing" and not where:
        return error_response(422, "invalid_request", "The request needs a JSON body.")
    if first.get("type") == "model_attributes_type" and not where:
        message = "The request body must be a JSON object (Content-Type: application/json)."
        return error_response(422, "invalid_request", message)
    text = str(first.get("msg", "invalid"))
    return error_response(422, "invalid_request", f"{where}: {text}" if where else text)


def _origin_key(origin: str) -> str:
    """`https://Example.com:443/` -> `https://example.com` (how browsers send Origin)."""
    parts = urlsplit(origin.strip().lower())
    if not parts.scheme or not parts.hostname:
        return origin.strip().lower()
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return origin.strip().lower()
    if port is not None and port != default:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


class OriginPolicy:
    """Which sites' pages may call the API: the configured ones and the server's own."""

    def __init__(self, allowed: list[str]) -> None:
        self.any = "*" in allowed
        self.allowed = frozenset(_origin_key(o) for o in allowed if o != "*")

    def allows(self, origin: str, request: Request) -> bool:
        if self.any:
            return True
        key = _origin_key(origin)
        if key in self.allowed:
            return True
        host = request.headers.get("host", "")
        return bool(host) and key == _origin_key(f"{request.url.scheme}://{host}")


def add_cors(response: Response, origin: str | None) -> Response:
    response.headers.append("Vary", "Origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    return response


async def read_capped_body(request: Request, limit: int) -> None:
    """Read the body up to `limit` bytes (413 beyond), before anything parses it."""
    too_large = WidgetError(
        413, "payload_too_large", f"The request body is too large (the limit is {limit:,} bytes)."
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise WidgetError(400, "bad_request", "The Content-Length header is not valid.")
        if int(declared) > limit:
            raise too_large
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    request._body = b"".join(chunks)  # what Request.body() returns from now on


class DatabaseThreads:
    """Runs the widget's blocking database work off the event loop, in arrival order."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="widget-db")

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _route_class(origins: OriginPolicy, config: WidgetConfig) -> type[APIRoute]:
    class WidgetRoute(APIRoute):
        async def handle(self, scope: Any, receive: Any, send: Any) -> None:
            # A method no route takes (TRACE, QUERY, ...): our 405, not Starlette's `detail`.
            if self.methods and scope["method"] not in self.methods:
                origin = Request(scope).headers.get("origin")
                response = error_response(
                    405,
                    "method_not_allowed",
                    f"{scope['method']} is not allowed here.",
                    {"Allow": ", ".join(sorted(self.methods))},
                )
                await add_cors(response, origin)(scope, receive, send)
                return
            await super().handle(scope, receive, send)

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                origin = request.headers.get("origin")
                if origin is not None and not origins.allows(origin, request):
                    log.info("widget: refused a request from origin %r", origin[:200])
                    return error_response(
                        403,
                        "origin_not_allowed",
                        "This website is not allowed to use the chat widget.",
                    )
                try:
                    await read_capped_body(request, config.max_body_bytes)
                    response = await handle(request)
                except WidgetError as exc:
                    response = widget_error_response(exc)
                except RequestValidationError as exc:
                    response = validation_error_response(exc)
                except HTTPException as exc:
                    response = error_response(
                        exc.status_code, "bad_request", str(exc.detail), dict(exc.headers or {})
                    )
                except OperationalError:
                    log.exception("widget: database unavailable")
                    response = error_response(
                        503,
                        "unavailable",
                        "The service is busy; please try again in a moment.",
                        {"Retry-After": "1"},
                    )
                except Exception:  # a bug: still JSON, still readable by the widget (CORS)
                    log.exception("widget: %s %s failed", request.method, request.url.path)
                    response = error_response(
                        500, "internal_error", "Something went wrong on our side."
                    )
                return add_cors(response, origin)

            return guarded

    return WidgetRoute


# --- the router -----------------------------------------------------------------------------


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _token(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


def create_widget_router(
    runtime: Runtime,
    *,
    config: WidgetConfig | None = None,
    backend: WidgetBackend | None = None,
) -> APIRouter:
    """The `/widget/api` routes. `config` defaults to `[widget]` in `qualibot.toml`; tests
    pass their own (e.g. tighter limits), or a whole `backend`."""
    if backend is None:
        config = config or WidgetConfig.from_file(
            runtime.config.widget, runtime.settings.config_file
        )
        backend = WidgetBackend(runtime.service, runtime.sessions, runtime.flows, config)
    config = backend.config
    threads = config.db_threads or (1 if runtime.engine.dialect.name == "sqlite" else 8)
    run = DatabaseThreads(threads)
    origins = OriginPolicy(runtime.settings.widget_origin_list)
    bearer = HTTPBearer(auto_error=False, description="The session's token")

    router = APIRouter(
        prefix=PREFIX, tags=["widget"], route_class=_route_class(origins, config)
    )

    @router.post(
        "/sessions",
        status_code=201,
        response_model=SessionCreated,
        responses=_errors(400, 403, 413, 422, 429),
        summary="Start a conversation",
        description="Starts a qualification conversation. Returns the session's id, its "
        "bearer token (keep it: it is shown once), a resume code for another device and "
        "the bot's first messages. Contact details not given are asked first.",
    )
    async def create_session(body: CreateSessionIn, request: Request) -> Response:
        contact = body.contact.model_dump(exclude_none=True) if body.contact else {}
        new = NewSession(
            ip=_client_ip(request),
            framework=body.framework,
            locale=body.locale,
            page=clean_text(body.page, newlines=False) if body.page else None,
            contact=contact,
            consent=bool(body.consent),
            honeypot=bool(body.website and body.website.strip()),
        )
        return JSONResponse(await run(backend.create, new), status_code=201, headers=NO_STORE)

    @router.get(
        "/opening",
        response_model=OpeningOut,
        responses=_errors(403, 422),
        summary="The first messages, before a conversation",
        description="The bot's first messages for a framework (the server's default when "
        "none is given), as a new session starts with them, without starting one: nothing "
        "is stored. The widget shows them until the visitor answers, and creates the "
        "session then.",
    )
    async def opening(
        framework: str | None = Query(
            default=None, max_length=40, description="bant (default), champ, meddic or gpctba"
        ),
    ) -> Response:
        return JSONResponse(backend.opening(framework), headers=NO_STORE)

    @router.get(
        "/sessions/{session_id}",
        response_model=SessionOut,
        responses=_errors(401, 403, 404, 410),
        summary="The conversation so far",
        description="The whole history and state, to redraw the chat after a refresh.",
    )
    async def get_session(
        session_id: str,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Response:
        state = await run(backend.history, session_id, _token(credentials))
        return JSONResponse(state, headers=NO_STORE)

    @router.post(
        "/sessions/{session_id}/messages",
        response_model=TurnOut,
        responses=_errors(400, 401, 403, 404, 409, 410, 413, 422, 429),
        summary="Send the visitor's message",
        description='`{"text": ...}` (typed; `back`, `skip` and `restart` work as words) '
        'or `{"choice": value}` (a quick reply). The bot\'s reply comes in the response. '
        'With a `message_id`, sending the same message again is safe (see the field).',
    )
    async def post_message(
        session_id: str,
        body: MessageIn,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Response:
        if (body.text is None) == (body.choice is None):
            raise WidgetError(422, "invalid_request", 'Send either "text" or "choice".')
        limit = config.max_message_chars
        if body.text is not None and len(body.text) > limit:
            raise WidgetError(
                413,
                "message_too_long",
                f"Your message is {len(body.text):,} characters long; please keep it to "
                f"{limit:,} characters or fewer.",
            )
        turn = await run(
            backend.post_message,
            session_id,
            _token(credentials),
            text=body.text,
            choice=body.choice,
            honeypot=bool(body.website and body.website.strip()),
            message_id=body.message_id,
            question=body.question,
        )
        return JSONResponse(turn, headers=NO_STORE)

    @router.post(
        "/sessions/{session_id}/events",
        status_code=202,
        response_class=Response,
        responses={
            202: {"description": "Recorded"},
            **_errors(400, 401, 403, 404, 410, 413, 422, 429),
        },
        summary="Record website behaviour",
        description="An engagement event (e.g. page_view, pricing_viewed, demo_watched) for "
        "the conversation's lead; it feeds the lead's engagement score.",
    )
    async def post_event(
        session_id: str,
        body: EventIn,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Response:
        try:
            props = clean_json(body.props)
        except ValueError as exc:
            raise WidgetError(422, "invalid_request", f"props: {exc}") from exc
        size = len(json.dumps(props, ensure_ascii=False).encode())
        if size > config.max_props_bytes:
            raise WidgetError(
                413,
                "props_too_large",
                f"The event's props are too large ({size:,} bytes; the limit is "
                f"{config.max_props_bytes:,}).",
            )
        await run(backend.record_event, session_id, _token(credentials), body.event, props)
        return Response(status_code=202, headers=NO_STORE)

    @router.post(
        "/resume",
        response_model=ResumedOut,
        responses=_errors(400, 403, 404, 410, 413, 422, 429),
        summary="Continue on another device",
        description="Opens the conversation of a resume code (case-insensitive) with a new "
        "token; the previous token stops working.",
    )
    async def resume(body: ResumeIn, request: Request) -> Response:
        state = await run(backend.resume, body.resume_code, _client_ip(request))
        return JSONResponse(state, headers=NO_STORE)

    known = list(router.routes)  # for telling 405 from 404 below

    @router.options("/{path:widget_any}", include_in_schema=False)
    async def preflight(path: str, request: Request) -> Response:
        origin = request.headers.get("origin")
        response = Response(status_code=204)
        if origin is not None:
            response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @router.api_route(
        "/{path:widget_any}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def no_such_route(path: str, request: Request) -> Response:
        for route in known:
            match, _ = route.matches(request.scope)
            if match == Match.PARTIAL:
                return error_response(
                    405,
                    "method_not_allowed",
                    f"{request.method} is not allowed here.",
                    {"Allow": ", ".join(sorted(getattr(route, "methods", None) or ()))},
                )
        return error_response(404, "not_found", "There is no such endpoint.")

    return router
