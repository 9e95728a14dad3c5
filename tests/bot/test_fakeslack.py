"""The fake Slack Web API, driven by the real `slack_sdk.WebClient`."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.fakeslack import BOT_SCOPES, SLACK_ERRORS, FakeSlack, SlackError, Workspace

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}
METADATA = {"event_type": "qualibot_outbox", "event_payload": {"outbox_id": 17}}


def client_for(fake: FakeSlack, **kwargs: Any) -> WebClient:
    kwargs.setdefault("retry_handlers", [])
    return WebClient(token=fake.bot_token, base_url=fake.api_url, **kwargs)


# -- base_url -------------------------------------------------------------------------------


def test_base_url_must_include_the_api_path(fake_slack: FakeSlack) -> None:
    assert fake_slack.api_url == f"{fake_slack.url}/api/"
    without_slash = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url[:-1])
    assert without_slash.auth_test()["ok"]  # slack_sdk appends the missing "/"

    # urljoin(base_url, method): without /api/ the client calls /auth.test, which Slack
    # (and the fake) do not serve.
    bare = WebClient(token=fake_slack.bot_token, base_url=fake_slack.url, retry_handlers=[])
    with pytest.raises(SlackApiError) as err:
        bare.auth_test()
    assert err.value.response.status_code == 404
    assert [c.method for c in fake_slack.calls()] == ["auth.test"]


def test_auth_test(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    ws = fake_slack.workspace
    response = slack_client.auth_test()
    assert response.data == {
        "ok": True,
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_name,
        "user": "qualibot",
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


# -- recording ------------------------------------------------------------------------------


def test_calls_are_recorded_with_args_headers_and_time(
    slack_client: WebClient, fake_slack: FakeSlack
) -> None:
    before = time.time()
    slack_client.chat_postMessage(channel="C0SALES01", text="hi", blocks=[SECTION])
    slack_client.users_info(user="U0REP0001")  # sent form-encoded

    post, info = fake_slack.calls()
    assert post.method == "chat.postMessage"
    assert post.args == {"channel": "C0SALES01", "text": "hi", "blocks": [SECTION]}
    assert post.header("authorization") == f"Bearer {fake_slack.bot_token}"
    assert post.token == fake_slack.bot_token
    assert post.team_id == fake_slack.workspace.team_id
    assert before <= post.time <= time.time()
    assert post.status == 200 and post.ok and post.response is not None
    assert info.method == "users.info" and info.args == {"user": "U0REP0001"}
    assert info.header("Content-Type") == "application/x-www-form-urlencoded"
    assert fake_slack.calls("users.info") == [info]

    fake_slack.clear()
    assert fake_slack.calls() == []


def test_form_encoded_json_fields_are_parsed(fake_slack: FakeSlack) -> None:
    body = urlencode({
        "channel": "C0SALES01",
        "text": "hi",
        "blocks": json.dumps([SECTION]),
        "metadata": json.dumps(METADATA),
    }).encode()
    request = urllib.request.Request(
        fake_slack.api_url + "chat.postMessage",
        data=body,
        headers={"Authorization": f"Bearer {fake_slack.bot_token}",
                 "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["ok"] and answer["message"]["blocks"] == [SECTION]
    assert answer["message"]["metadata"] == METADATA
    [call] = fake_slack.calls()
    assert call.args["blocks"] == [SECTION] and call.args["metadata"] == METADATA


def test_wait_for_waits_for_calls_from_other_threads(
    slack_client: WebClient, fake_slack: FakeSlack
) -> None:
    def later() -> None:
        time.sleep(0.2)
        for _ in range(2):
            slack_client.chat_postMessage(channel="C0SALES01", text="later")

    threading.Thread(target=later).start()
    calls = fake_slack.wait_for("chat.postMessage", count=2, timeout=5)
    assert len(calls) == 2

    with pytest.raises(AssertionError, match=r"views.open.*got 0.*chat.postMessage"):
        fake_slack.wait_for("views.open", timeout=0.2)


def test_concurrent_posts_get_distinct_increasing_ts(fake_slack: FakeSlack) -> None:
    results: list[str] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        ts = client_for(fake_slack).chat_postMessage(channel="C0SALES01", text=str(i))["ts"]
        with lock:
            results.append(ts)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 20
    assert len(fake_slack.calls("chat.postMessage")) == 20
    stored = [m["ts"] for m in fake_slack.messages("C0SALES01")]
    assert sorted(stored) == sorted(results)


# -- methods --------------------------------------------------------------------------------


def test_post_message_echoes_the_message_with_metadata(
    slack_client: WebClient, fake_slack: FakeSlack
) -> None:
    response = slack_client.chat_postMessage(
        channel="C0SALES01", text="fallback", blocks=[SECTION], metadata=METADATA
    )
    assert response["ok"] and response["channel"] == "C0SALES01"
    assert isinstance(response["ts"], str) and "." in response["ts"]
    message = response["message"]
    assert message["ts"] == response["ts"]
    assert message["text"] == "fallback"
    assert message["blocks"] == [SECTION]
    assert message["metadata"] == METADATA
    assert message["bot_id"] == fake_slack.workspace.bot_id
    assert message["user"] == fake_slack.workspace.bot_user_id
    assert fake_slack.messages("C0SALES01") == [message]


def test_post_to_a_user_id_lands_in_the_dm(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    response = slack_client.chat_postMessage(channel="U0REP0001", text="question")
    assert response["channel"] == "D0REP0001" == fake_slack.dm_channel("U0REP0001")
    assert [m["text"] for m in fake_slack.messages("D0REP0001")] == ["question"]


def test_post_message_needs_text_or_blocks(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        slack_client.api_call("chat.postMessage", json={"channel": "C0SALES01"})
    assert err.value.response["error"] == "no_text"


def test_invalid_blocks_are_rejected(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    too_long = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    for blocks in ([too_long], [SECTION] * 51, [{"type": "no_such_block"}]):
        with pytest.raises(SlackApiError) as err:
            slack_client.chat_postMessage(channel="C0SALES01", text="t", blocks=blocks)
        assert err.value.response["error"] == "invalid_blocks"
        assert err.value.response["errors"]
    assert fake_slack.messages("C0SALES01") == []


def test_post_ephemeral(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    response = slack_client.chat_postEphemeral(channel="C0SALES01", user="U0REP0001", text="psst")
    assert response["ok"] and response["message_ts"]
    assert fake_slack.ephemeral_messages()[0]["text"] == "psst"
    assert fake_slack.messages("C0SALES01") == []  # ephemeral messages are not in history


def test_update_changes_the_stored_message(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    posted = slack_client.chat_postMessage(channel="C0SALES01", text="old", blocks=[SECTION])
    updated = slack_client.chat_update(channel="C0SALES01", ts=posted["ts"], text="new")
    assert updated["ok"] and updated["ts"] == posted["ts"] and updated["text"] == "new"
    [message] = fake_slack.messages("C0SALES01")
    assert message["text"] == "new"
    assert message["blocks"] == [SECTION]  # kept: Slack keeps blocks that are not replaced
    assert message["edited"]["user"] == fake_slack.workspace.bot_user_id

    with pytest.raises(SlackApiError) as err:
        slack_client.chat_update(channel="C0SALES01", ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_conversations_open_returns_the_dm_channel(slack_client: WebClient) -> None:
    first = slack_client.conversations_open(users="U0REP0001")
    assert first.data == {"ok": True, "channel": {"id": "D0REP0001"}}
    again = slack_client.conversations_open(users=["U0REP0001"], return_im=True)
    assert again["channel"]["id"] == "D0REP0001" and again["channel"]["is_im"] is True
    assert again["already_open"] is True


def test_history_returns_posted_messages_newest_first_with_metadata_on_request(
    slack_client: WebClient, fake_slack: FakeSlack
) -> None:
    dm = fake_slack.dm_channel("U0REP0001")
    fake_slack.add_message(dm, "50k", user="U0REP0001")
    slack_client.chat_postMessage(channel=dm, text="q1", metadata=METADATA)
    slack_client.chat_postMessage(channel=dm, text="q2")

    plain = slack_client.conversations_history(channel=dm)
    assert [m["text"] for m in plain["messages"]] == ["q2", "q1", "50k"]
    assert all("metadata" not in m for m in plain["messages"])

    full = slack_client.conversations_history(channel=dm, include_all_metadata=True)
    assert full["messages"][1]["metadata"] == METADATA

    page1 = slack_client.conversations_history(channel=dm, limit=2)
    assert [m["text"] for m in page1["messages"]] == ["q2", "q1"] and page1["has_more"]
    cursor = page1["response_metadata"]["next_cursor"]
    page2 = slack_client.conversations_history(channel=dm, limit=2, cursor=cursor)
    assert [m["text"] for m in page2["messages"]] == ["50k"] and not page2["has_more"]

    oldest = full["messages"][1]["ts"]
    newer = slack_client.conversations_history(channel=dm, oldest=oldest)
    assert [m["text"] for m in newer["messages"]] == ["q2"]


def test_history_of_a_public_channel_is_readable_with_the_manifest_scopes(
    slack_client: WebClient,
) -> None:
    """The bot reads back its own handoff notices (to reconcile a post whose response was
    lost), which needs channels:history; the manifest grants it and so does the fake."""
    slack_client.chat_postMessage(channel="C0SALES01", text="handoff")
    history = slack_client.conversations_history(channel="C0SALES01")
    assert [m["text"] for m in history["messages"]] == ["handoff"]
    assert "channels:history" in BOT_SCOPES


def test_views_open_update_publish(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    modal = {
        "type": "modal",
        "callback_id": "qualify_modal",
        "title": {"type": "plain_text", "text": "Qualify a lead"},
        "blocks": [SECTION],
    }
    opened = slack_client.views_open(trigger_id="123.456.abc", view=modal)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "qualify_modal"
    assert opened["root_view_id"] == opened["id"] and opened["hash"]

    changed = {**modal, "blocks": [SECTION, {"type": "divider"}]}
    updated = slack_client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert updated["view"]["id"] == opened["id"] and len(updated["view"]["blocks"]) == 2
    with pytest.raises(SlackApiError) as err:
        slack_client.views_update(view_id=opened["id"], view=changed, hash=opened["hash"])
    assert err.value.response["error"] == "hash_conflict"
    with pytest.raises(SlackApiError) as err:
        slack_client.views_update(view_id="V404", view=changed)
    assert err.value.response["error"] == "not_found"

    home = {"type": "home", "blocks": [SECTION]}
    published = slack_client.views_publish(user_id="U0REP0001", view=home)["view"]
    assert published["type"] == "home"
    assert fake_slack.home_view("U0REP0001") == published

    with pytest.raises(SlackApiError) as err:
        slack_client.views_open(trigger_id="", view=modal)
    assert err.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as err:  # modal titles are at most 24 characters
        slack_client.views_open(
            trigger_id="1.2.3",
            view={**modal, "title": {"type": "plain_text", "text": "x" * 25}},
        )
    assert err.value.response["error"] == "invalid_arguments"


def test_users_info(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0REP0001", real_name="Riley Rep", email="riley@example.com")
    user = slack_client.users_info(user="U0REP0001")["user"]
    assert user["real_name"] == "Riley Rep" and user["profile"]["email"] == "riley@example.com"
    assert user["profile"]["display_name"] == "Riley"
    made_up = slack_client.users_info(user="U0OTHER01")["user"]
    assert made_up["id"] == "U0OTHER01" and made_up["is_bot"] is False
    with pytest.raises(SlackApiError) as err:
        slack_client.users_info(user="nobody")
    assert err.value.response["error"] == "user_not_found"


def test_oauth_v2_access_installs_another_workspace(fake_slack: FakeSlack) -> None:
    acme = Workspace.for_team("T0ACME001", "Acme")
    code = fake_slack.issue_oauth_code(acme, installer="U0ADMIN01")
    anonymous = WebClient(base_url=fake_slack.api_url, retry_handlers=[])
    response = anonymous.oauth_v2_access(
        client_id=fake_slack.client_id, client_secret=fake_slack.client_secret, code=code
    )
    assert response.data == {
        "ok": True,
        "app_id": acme.app_id,
        "authed_user": {"id": "U0ADMIN01"},
        "scope": ",".join(BOT_SCOPES),
        "token_type": "bot",
        "access_token": acme.bot_token,
        "bot_user_id": acme.bot_user_id,
        "team": {"id": "T0ACME001", "name": "Acme"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    auth = WebClient(token=response["access_token"], base_url=fake_slack.api_url).auth_test()
    assert auth["team_id"] == "T0ACME001" and auth["bot_id"] == acme.bot_id

    with pytest.raises(SlackApiError) as err:  # a code works once
        anonymous.oauth_v2_access(
            client_id=fake_slack.client_id, client_secret=fake_slack.client_secret, code=code
        )
    assert err.value.response["error"] == "invalid_code"
    with pytest.raises(SlackApiError) as err:
        anonymous.oauth_v2_access(
            client_id=fake_slack.client_id, client_secret="wrong",
            code=fake_slack.issue_oauth_code(acme),
        )
    assert err.value.response["error"] == "bad_client_secret"


def test_oauth_with_user_scopes_returns_a_user_token(fake_slack: FakeSlack) -> None:
    acme = Workspace.for_team("T0ACME001")
    code = fake_slack.issue_oauth_code(acme, installer="U0ADMIN01", user_scopes=["users:read"])
    response = WebClient(base_url=fake_slack.api_url).oauth_v2_access(
        client_id=fake_slack.client_id, client_secret=fake_slack.client_secret, code=code
    )
    user = response["authed_user"]
    assert user["id"] == "U0ADMIN01" and user["token_type"] == "user"
    assert user["scope"] == "users:read" and user["access_token"].startswith("xoxp-")


def test_unknown_method(slack_client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        slack_client.api_call("chat.teleport")
    assert err.value.response["error"] == "unknown_method"


def test_custom_handler(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    def team_info(args: dict[str, Any], call: Any) -> dict[str, Any]:
        if args.get("team") == "T0GONE":
            raise SlackError("team_not_found")
        return {"ok": True, "team": {"id": call.team_id}}

    fake_slack.set_handler("team.info", team_info)
    assert slack_client.team_info()["team"]["id"] == fake_slack.workspace.team_id
    with pytest.raises(SlackApiError) as err:
        slack_client.team_info(team="T0GONE")
    assert err.value.response["error"] == "team_not_found"


def test_a_bug_in_a_handler_is_answered_with_500() -> None:
    def broken(args: dict[str, Any], call: Any) -> dict[str, Any]:
        raise ValueError("oops")

    with FakeSlack() as fake:
        fake.set_handler("team.info", broken)
        with pytest.raises(SlackApiError) as err:
            client_for(fake).team_info()
        assert err.value.response.status_code == 500
        assert err.value.response["error"] == "fake_slack_internal_error"
        assert [str(e) for e in fake.internal_errors] == ["oops"]


def test_response_url_posts_are_recorded(fake_slack: FakeSlack) -> None:
    url = fake_slack.response_url("cmd-1")
    response = WebhookClient(url).send(text="Started", response_type="ephemeral")
    assert response.status_code == 200
    [call] = fake_slack.wait_for("response_url")
    assert call.args == {"text": "Started", "response_type": "ephemeral"}


# -- tokens ---------------------------------------------------------------------------------


def test_tokens(fake_slack: FakeSlack) -> None:
    def error_for(token: str | None) -> str:
        client = WebClient(token=token, base_url=fake_slack.api_url, retry_handlers=[])
        with pytest.raises(SlackApiError) as err:
            client.chat_postMessage(channel="C0SALES01", text="hi")
        return str(err.value.response["error"])

    assert error_for("xoxb-unknown") == "invalid_auth"
    assert error_for(None) == "not_authed"
    fake_slack.revoke_token(fake_slack.bot_token)
    assert error_for(fake_slack.bot_token) == "token_revoked"
    assert fake_slack.messages() == []


# -- scripted failures ----------------------------------------------------------------------


@pytest.mark.parametrize("error", SLACK_ERRORS)
def test_injected_slack_errors(
    error: str, slack_client: WebClient, fake_slack: FakeSlack
) -> None:
    fake_slack.fail("chat.postMessage", error)
    with pytest.raises(SlackApiError) as err:
        slack_client.chat_postMessage(channel="C0SALES01", text="hi")
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == error
    assert fake_slack.messages() == []  # nothing was posted
    [call] = fake_slack.calls("chat.postMessage")
    assert call.response == {"ok": False, "error": error}

    assert slack_client.chat_postMessage(channel="C0SALES01", text="hi")["ok"]  # once only


def test_injections_queue_per_method(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", "not_in_channel", times=2)
    fake_slack.fail("chat.update", "is_archived")
    assert fake_slack.pending() == 3 and fake_slack.pending("chat.postMessage") == 2
    assert slack_client.auth_test()["ok"]  # other methods are not affected
    for _ in range(2):
        with pytest.raises(SlackApiError):
            slack_client.chat_postMessage(channel="C0SALES01", text="hi")
    assert slack_client.chat_postMessage(channel="C0SALES01", text="hi")["ok"]
    assert fake_slack.pending() == 1


def test_rate_limit_surfaces_as_429_with_retry_after(
    slack_client: WebClient, fake_slack: FakeSlack
) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        slack_client.chat_postMessage(channel="C0SALES01", text="hi")
    response = err.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response["error"] == "ratelimited"
    assert fake_slack.messages() == []


def test_rate_limit_retry_handler_waits_and_retries(fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=1)
    client = client_for(fake_slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    assert client.chat_postMessage(channel="C0SALES01", text="hi")["ok"]
    assert time.monotonic() - started >= 1
    assert [c.status for c in fake_slack.calls()] == [429, 200]
    assert len(fake_slack.messages("C0SALES01")) == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(status: int, slack_client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.http_error("chat.postMessage", status)
    with pytest.raises(SlackApiError) as err:
        slack_client.chat_postMessage(channel="C0SALES01", text="hi")
    assert err.value.response.status_code == status
    assert "non-JSON" in err.value.response["error"]
    assert fake_slack.messages() == []


def test_slow_response(fake_slack: FakeSlack) -> None:
    fake_slack.slow("chat.postMessage", 0.5)
    started = time.monotonic()
    assert client_for(fake_slack).chat_postMessage(channel="C0SALES01", text="hi")["ok"]
    assert time.monotonic() - started >= 0.5


def test_slow_response_past_the_client_timeout_is_still_posted(fake_slack: FakeSlack) -> None:
    fake_slack.slow("chat.postMessage", 1.0)
    with pytest.raises(TimeoutError):
        client_for(fake_slack, timeout=0.3).chat_postMessage(channel="C0SALES01", text="hi")
    [call] = fake_slack.wait_for("chat.postMessage", timeout=5)
    assert call.ok
    assert [m["text"] for m in fake_slack.messages("C0SALES01")] == ["hi"]


def test_drop_after_accept_posts_but_the_client_sees_a_reset(fake_slack: FakeSlack) -> None:
    fake_slack.drop_after_accept("chat.postMessage")
    with pytest.raises(ConnectionError):
        client_for(fake_slack).chat_postMessage(
            channel="C0SALES01", text="hi", metadata=METADATA
        )
    [call] = fake_slack.calls("chat.postMessage")
    assert call.dropped and call.status == 0 and not call.ok
    assert call.response is not None and call.response["ok"]  # what it would have answered
    [message] = fake_slack.messages("C0SALES01")
    assert message["metadata"] == METADATA  # so it can be found again with history


def test_default_web_client_retries_a_reset_and_posts_twice(fake_slack: FakeSlack) -> None:
    fake_slack.drop_after_accept("chat.postMessage")
    default = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    assert default.chat_postMessage(channel="C0SALES01", text="hi")["ok"]
    assert len(fake_slack.messages("C0SALES01")) == 2  # slack_sdk's ConnectionErrorRetryHandler


def test_drop_before_accept_changes_nothing(fake_slack: FakeSlack) -> None:
    fake_slack.drop_before_accept("chat.postMessage")
    with pytest.raises(ConnectionError):
        client_for(fake_slack).chat_postMessage(channel="C0SALES01", text="hi")
    [call] = fake_slack.calls()
    assert call.dropped and call.response is None
    assert fake_slack.messages() == []


def test_sticky_channel_errors(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.set_channel_error("C0OLD0001", "is_archived")
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            slack_client.chat_postMessage(channel="C0OLD0001", text="hi")
        assert err.value.response["error"] == "is_archived"
    assert slack_client.chat_postMessage(channel="C0SALES01", text="hi")["ok"]
    fake_slack.set_channel_error("C0OLD0001", None)
    assert slack_client.chat_postMessage(channel="C0OLD0001", text="hi")["ok"]


def test_reset_forgets_everything(slack_client: WebClient, fake_slack: FakeSlack) -> None:
    slack_client.chat_postMessage(channel="C0SALES01", text="hi")
    fake_slack.fail("auth.test", "invalid_auth")
    fake_slack.reset()
    assert fake_slack.calls() == [] and fake_slack.messages() == [] and fake_slack.pending() == 0
    assert slack_client.auth_test()["ok"]


def test_stop_does_not_wait_for_slow_responses() -> None:
    fake = FakeSlack().start()
    fake.slow("auth.test", 30)
    client = WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=5, retry_handlers=[])

    def call() -> None:
        with contextlib.suppress(Exception):
            client.auth_test()

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    time.sleep(0.3)  # the request is in, sleeping in the fake
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    caller.join(timeout=5)
    assert not caller.is_alive()
