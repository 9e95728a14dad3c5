"""The embed script in a real browser (Debian's headless Chromium via Playwright) against the mock
backend in ``mock_api.py`` — no real server needed.

Run: ``pip install playwright`` (no ``playwright install``: the system Chromium is used), then
``pytest tests/widget_frontend``. (``docs/widget.png`` is taken against the real back end, in
``tests/widget/test_browser_e2e.py``.)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.browser import INPUT, LAUNCHER, PANEL, SEND, W, in_shadow, messages, wait_for_bot

from .mock_api import CLOSING, MockWidgetApi

XSS = "<img src=x onerror=alert(1)>"
MESSAGE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")

def open_widget(page: Any, url: str) -> None:
    page.goto(url)
    page.locator(LAUNCHER).click()
    page.get_by_role("dialog", name="Chat with us").wait_for()
    wait_for_bot(page, "Which company are you with?")


def type_answer(page: Any, text: str) -> None:
    page.locator(INPUT).fill(text)
    page.locator(INPUT).press("Enter")


def tap_answer(page: Any, text: str) -> None:
    """As on a phone: type, then tap the send button (Enter starts a new line there)."""
    page.locator(INPUT).fill(text)
    page.locator(SEND).tap()


def style(page: Any, selector: str, prop: str) -> str:
    """A computed style of an element inside the widget."""
    return str(in_shadow(page, f"getComputedStyle(root.querySelector('{selector}')).{prop}"))


def wait_until(page: Any, condition: Callable[[], bool], timeout_ms: int = 5000) -> None:
    """Poll a condition on the Python side (e.g. on the mock's records), letting the page run."""
    for _ in range(timeout_ms // 50):
        if condition():
            return
        page.wait_for_timeout(50)
    raise AssertionError("condition not met in time")


def sent_messages(mock_api: MockWidgetApi) -> list[dict[str, Any]]:
    """The message bodies the widget posted, without their `message_id`s (each a fresh,
    well-formed idempotency key: checked here) and the `question` they answer
    (`sent_questions`)."""
    bodies = [dict(r.body) for r in mock_api.api_requests("POST", "/messages")]
    for body in bodies:
        body.pop("question", None)
    ids = [body.pop("message_id", None) for body in bodies]
    assert all(isinstance(i, str) and MESSAGE_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    return bodies


def sent_questions(mock_api: MockWidgetApi) -> list[str | None]:
    """The `question` each posted message said it answers."""
    return [r.body.get("question") for r in mock_api.api_requests("POST", "/messages")]


def stored_session(page: Any) -> dict[str, Any]:
    """What the widget keeps in localStorage: the session (and whether the chat is open)."""
    keys = page.evaluate(
        "Object.keys(localStorage).filter(k => k.startsWith('qualibot:v1:session:'))")
    assert len(keys) <= 1, keys
    if not keys:
        return {}
    session: dict[str, Any] = json.loads(page.evaluate(f"localStorage.getItem({keys[0]!r})"))
    return session


def test_walk_through_reload_and_injection(
    mock_api: MockWidgetApi, new_page: Any, tmp_path: Any
) -> None:
    page = new_page()
    page.goto(mock_api.url + "/")
    page.locator(LAUNCHER).wait_for()
    # Loading the script alone creates nothing on the server.
    assert mock_api.api_requests() == []

    page.locator(LAUNCHER).click()
    dialog = page.get_by_role("dialog", name="Chat with us")
    dialog.wait_for()
    wait_for_bot(page, "Which company are you with?")
    assert in_shadow(page, "root.activeElement && root.activeElement.id") == "qb-input"
    assert page.locator(LAUNCHER).get_attribute("aria-expanded") == "true"
    # The first question is the opening: no session before the first answer.
    (opening,) = mock_api.api_requests("GET", "/opening")
    assert opening.query == {"framework": "bant"}
    assert mock_api.api_requests("POST", "/sessions") == []
    assert stored_session(page) == {"open": True}
    code_line = page.locator(f"{W} .code")
    assert code_line.is_hidden()
    page.reload()  # open on the next page too (still no session)
    dialog.wait_for()
    wait_for_bot(page, "Which company are you with?")
    assert mock_api.api_requests("POST", "/sessions") == []

    # 1. Typed answer: it starts the session, and is its first answer.
    type_answer(page, "Acme Logistics")
    wait_for_bot(page, "Roughly what budget")
    (create,) = mock_api.api_requests("POST", "/sessions")
    assert create.body == {"framework": "bant", "locale": "en-US", "page": mock_api.url + "/"}
    session = stored_session(page)
    assert session["session_id"] and session["token"] and session["resume_code"]
    # The resume code is on show.
    assert code_line.inner_text() == f"Resume on another device with code {session['resume_code']}"
    sent = mock_api.api_requests("POST", "/messages")[-1]
    assert sent_messages(mock_api)[-1] == {"text": "Acme Logistics"}
    assert sent.headers["Authorization"] == f"Bearer {session['token']}"
    assert ("visitor", "Acme Logistics") in messages(page)

    # 2. The choice question shows quick replies (a screenshot, to look at when this fails).
    chips = page.locator(f"{W} .choices button")
    assert chips.all_inner_texts() == ["Under $10k", "$10k–$50k", "Over $50k"]
    page.wait_for_timeout(250)  # let the open animation settle
    page.screenshot(path=str(tmp_path / "widget-mock.png"))

    page.locator(f"{W} .choices button", has_text="$10k–$50k").click()
    wait_for_bot(page, "What's your work email")
    assert sent_messages(mock_api)[-1] == {"choice": "10k_50k"}
    assert messages(page)[-2] == ("visitor", "$10k–$50k")
    assert page.locator(f"{W} .choices").is_hidden()  # only the current question's options

    # 3. Reload mid-way: the panel comes back open with the whole history from the server.
    before = messages(page)
    page.reload()
    dialog.wait_for()
    wait_for_bot(page, "What's your work email")
    assert messages(page) == before
    assert mock_api.api_requests("GET", f"/sessions/{session['session_id']}")
    assert len(mock_api.api_requests("POST", "/sessions")) == 1  # no second session

    # 4. Markup typed by a visitor and echoed by the bot stays text.
    type_answer(page, XSS)
    wait_for_bot(page, "doesn't look like an email address")
    assert ("visitor", XSS) in messages(page)
    assert any(who == "bot" and XSS in text for who, text in messages(page))
    assert in_shadow(page, "root.querySelectorAll('img').length") == 0
    assert page.evaluate("document.querySelectorAll('img').length") == 0

    # 5. Finish: the input goes, the closing message and "Start over" come.
    type_answer(page, "dana@acme.example")
    wait_for_bot(page, CLOSING)
    assert page.locator(f"{W} .composer").is_hidden()
    assert page.locator(f"{W} .controls").is_hidden()
    start_over = page.get_by_role("button", name="Start over")
    assert start_over.is_visible()

    # Tracking: one page_view per page load (three), sent once the session existed.
    views = [
        e
        for sid, e in mock_api.events
        if e["event"] == "page_view" and sid == session["session_id"]
    ]
    assert len(views) == 3
    assert views[0]["props"] == {"path": "/", "title": page.title(), "referrer": ""}

    # Escape closes and gives focus back to the launcher.
    page.keyboard.press("Escape")
    page.locator(PANEL).wait_for(state="hidden")
    assert page.locator(LAUNCHER).get_attribute("aria-expanded") == "false"
    assert in_shadow(page, "root.activeElement && root.activeElement.className") == "launcher"

    # Start over begins a brand-new conversation (with its first answer).
    page.locator(LAUNCHER).click()
    start_over.click()
    wait_for_bot(page, "Which company are you with?")
    assert page.locator(INPUT).is_visible()
    assert stored_session(page) == {"open": True} and code_line.is_hidden()
    type_answer(page, "Globex")
    wait_for_bot(page, "Roughly what budget")
    assert len(mock_api.api_requests("POST", "/sessions")) == 2
    assert stored_session(page)["session_id"] != session["session_id"]
    assert not page.errors


@pytest.mark.parametrize("width", [320, 360, 390])
def test_on_a_phone_the_demo_page_and_the_open_chat_fit_the_screen(
    mock_api: MockWidgetApi, new_page: Any, width: int
) -> None:
    page = new_page(viewport={"width": width, "height": 640})
    page.goto(mock_api.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") == width  # no sideways scroll
    open_widget(page, mock_api.url + "/")
    for part in (PANEL, INPUT, f"{W} .send"):
        box = page.locator(part).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, part
    # Text fields of 16px or more: iOS Safari zooms the whole page into a smaller one when it
    # gets the focus (and the full-screen chat with it, half of it then off the screen).
    for field in ("#qb-input", "#qb-code"):
        assert style(page, field, "fontSize") == "16px", field
    # The resume code, shown and typed, is readable whole: not broken over two lines at its
    # dash, not cut off in a field too narrow for it.
    type_answer(page, "Acme")  # (the session, and its code, come with the first answer)
    wait_for_bot(page, "Roughly what budget")
    assert in_shadow(page, "root.querySelector('.code strong').getClientRects().length") == 1
    page.get_by_role("button", name="Resume a conversation").click()
    page.locator(f"{W} #qb-code").fill("ABCD-1234")
    assert in_shadow(page, "(e => e.scrollWidth <= e.clientWidth)(root.querySelector('#qb-code'))")
    for part in ("#qb-code", ".resume .btn"):
        box = page.locator(f"{W} {part}").last.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, part


def test_on_a_phone_the_keyboard_stays_in_the_chat_that_covers_the_page(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """The full-screen chat hides the page: Tab and Shift+Tab used to walk on to the page's
    links behind it, out of sight. They go round inside the chat now, and a screen reader is
    told it is modal; on a wide screen, where the page is in view, neither."""
    page = new_page(viewport={"width": 375, "height": 667})
    open_widget(page, mock_api.url + "/")
    assert in_shadow(page, "root.querySelector('.panel').getAttribute('aria-modal')") == "true"

    def focus_in_chat() -> bool:
        return bool(page.evaluate(f"document.activeElement === document.querySelector('{W}')"))

    seen = set()
    for key in ["Tab"] * 15 + ["Shift+Tab"] * 15:
        page.keyboard.press(key)
        assert focus_in_chat(), key
        seen.add(in_shadow(page, "root.activeElement && root.activeElement.outerHTML.slice(0, 60)"))
    assert len(seen) >= 3  # it moves: round the chat's controls, not stuck on one
    assert any(s.startswith('<textarea class="input" id="qb-input"') for s in seen)

    wide = new_page(viewport={"width": 1280, "height": 800})
    open_widget(wide, mock_api.url + "/")
    assert in_shadow(wide, "root.querySelector('.panel').getAttribute('aria-modal')") == "false"
    for _ in range(15):
        wide.keyboard.press("Tab")
    assert not wide.evaluate(f"document.activeElement === document.querySelector('{W}')")


def test_the_question_stays_in_view_when_the_on_screen_keyboard_opens(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """A phone whose keyboard shrinks the page (Firefox and Chrome on Android with
    `interactive-widget=resizes-content`): the message area shrank from the bottom up, so the
    question and its quick replies went under the input, and the header kept a third of
    what was left. The conversation now stays scrolled to its end, and a short screen gets a
    compact header."""
    page = new_page(viewport={"width": 390, "height": 640}, is_mobile=True, has_touch=True)
    open_widget(page, mock_api.url + "/")
    tap_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    page.set_viewport_size({"width": 390, "height": 330})  # the keyboard takes the rest
    page.wait_for_timeout(200)
    body = page.locator(f"{W} .body").bounding_box()
    chips = page.locator(f"{W} .choices").bounding_box()
    question = page.locator(f"{W} .msg.bot").last.bounding_box()
    assert body and chips and question
    assert body["y"] <= chips["y"] and chips["y"] + chips["height"] <= body["y"] + body["height"]
    assert body["y"] <= question["y"]  # the whole question too
    assert page.locator(f"{W} .sub").is_hidden()


def test_with_reduced_motion_the_panel_opens_without_moving(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """Visitors who ask for reduced motion still saw the panel slide and grow as it opened:
    its opening transition's rule outranked the one turning transitions off."""
    page = new_page(reduced_motion="reduce")
    page.goto(mock_api.url + "/")
    page.locator(LAUNCHER).click()
    assert style(page, ".panel", "transitionDuration").replace("0s", "").strip(", ") == ""
    assert style(page, ".panel", "transform") == "none"  # at once, not in 0.18 s
    assert style(page, ".launcher", "transitionDuration").replace("0s", "").strip(", ") == ""


# A visual viewport the test moves by hand: iOS Safari's keyboard shrinks the visual viewport
# (and scrolls it), never the layout viewport, which Chromium cannot emulate. It notes which
# events the page listens to.
FAKE_VISUAL_VIEWPORT = """(() => {
  const vv = new EventTarget(), on = new Map();
  Object.assign(vv, {width: 390, height: 640, offsetTop: 0, offsetLeft: 0, scale: 1});
  vv.addEventListener = function (type, fn, options) {
    on.set(type, (on.get(type) || 0) + 1);
    EventTarget.prototype.addEventListener.call(this, type, fn, options);
  };
  vv.removeEventListener = function (type, fn, options) {
    on.set(type, (on.get(type) || 0) - 1);
    EventTarget.prototype.removeEventListener.call(this, type, fn, options);
  };
  vv.listening = () => [...on].filter(([, n]) => n > 0).map(([type]) => type).sort();
  vv.move = (height, offsetTop, type) => {
    Object.assign(vv, {height, offsetTop});
    vv.dispatchEvent(new Event(type));
  };
  Object.defineProperty(window, "visualViewport", {value: vv, configurable: true});
})()"""


def test_on_a_phone_the_chat_stays_above_the_ios_keyboard(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """iOS Safari's keyboard covers the bottom of the layout viewport without resizing it:
    the full-screen chat went on under it, the answer box hidden. While the chat is open its
    panel now follows the visual viewport (resize and scroll), and stops listening when it
    closes."""
    # (reduced motion: no open animation to wait for before measuring)
    page = new_page(viewport={"width": 390, "height": 640}, is_mobile=True, has_touch=True,
                    reduced_motion="reduce")
    page.add_init_script(FAKE_VISUAL_VIEWPORT)
    page.goto(mock_api.url + "/")
    page.locator(LAUNCHER).wait_for()
    assert page.evaluate("visualViewport.listening()") == []  # nothing while closed
    open_widget(page, mock_api.url + "/")
    assert page.evaluate("visualViewport.listening()") == ["resize", "scroll"]

    def panel() -> tuple[float, float]:
        box = page.locator(PANEL).bounding_box()
        assert box is not None
        return round(box["y"]), round(box["height"])

    assert panel() == (0, 640)
    page.evaluate("visualViewport.move(340, 0, 'resize')")  # the keyboard comes up
    assert panel() == (0, 340)
    page.evaluate("visualViewport.move(340, 120, 'scroll')")  # and Safari scrolls the page
    assert panel() == (120, 340)
    composer = page.locator(f"{W} .composer").bounding_box()
    question = page.locator(f"{W} .msg.bot").last.bounding_box()
    assert composer and question
    assert composer["y"] + composer["height"] <= 120 + 340 + 0.5  # above the keyboard
    assert question["y"] >= 120  # and the question in view
    tap_answer(page, "Acme")  # still works as usual
    wait_for_bot(page, "Roughly what budget")

    page.keyboard.press("Escape")
    page.locator(PANEL).wait_for(state="hidden")
    assert page.evaluate("visualViewport.listening()") == []
    page.evaluate("visualViewport.move(500, 0, 'resize')")  # the keyboard went, half-way
    page.locator(LAUNCHER).click()
    assert panel() == (0, 500)  # where the visual viewport is when opened again

    # On a wide screen the floating panel keeps its own size.
    wide = new_page(viewport={"width": 1280, "height": 800}, reduced_motion="reduce")
    wide.add_init_script(FAKE_VISUAL_VIEWPORT)
    open_widget(wide, mock_api.url + "/")
    before = wide.locator(PANEL).bounding_box()
    wide.evaluate("visualViewport.move(300, 50, 'resize')")
    assert wide.locator(PANEL).bounding_box() == before


def test_without_visual_viewport_the_phone_chat_fills_the_screen(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page(viewport={"width": 390, "height": 640}, is_mobile=True, has_touch=True,
                    reduced_motion="reduce")
    page.add_init_script(
        "Object.defineProperty(window, 'visualViewport', {value: undefined, configurable: true})")
    open_widget(page, mock_api.url + "/")
    box = page.locator(PANEL).bounding_box()
    assert box and (box["y"], box["height"]) == (0, 640)
    page.keyboard.press("Escape")
    page.locator(PANEL).wait_for(state="hidden")
    page.locator(LAUNCHER).click()
    wait_for_bot(page, "Which company are you with?")
    assert not page.errors


def test_the_launcher_stays_on_screen_when_the_sites_body_is_transformed(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    page.goto(mock_api.url + "/")
    page.add_style_tag(content="body { transform: translateZ(0); filter: saturate(1); }")
    box = page.locator(LAUNCHER).bounding_box()
    assert box is not None and 700 < box["y"] + box["height"] <= 800  # bottom of the screen
    assert 1100 < box["x"] + box["width"] <= 1280  # right


def test_site_css_does_not_reach_the_widget_and_widget_css_stays_inside(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    probe = """(() => {
      const root = document.querySelector('qualibot-widget').shadowRoot;
      const pick = (el) => { const s = getComputedStyle(el);
        return [s.backgroundColor, s.color, s.fontFamily, s.fontSize, s.padding,
                s.borderTopWidth, s.letterSpacing]; };
      return ['.launcher', '.send', '.chip', '.ctl', '.close', '.link', '.bubble', '.input']
        .map(sel => [sel, pick(root.querySelector(sel))]);
    })()"""
    open_widget(page, mock_api.url + "/")
    type_answer(page, "Acme")
    page.locator(f"{W} .chip").first.wait_for()
    before = page.evaluate(probe)

    page.add_style_tag(
        content="""
      button { background: red !important; color: yellow !important; padding: 30px !important;
               border: 5px solid lime !important; font-family: serif !important; }
      * { font-size: 40px !important; letter-spacing: 9px !important; }
      div, p, input { background: red !important; }
    """
    )
    assert page.evaluate(probe) == before
    assert style(page, ".launcher", "backgroundColor") == "rgb(79, 70, 229)"

    # And the widget's own rules (e.g. its `button` reset) never touch the page.
    page.evaluate(
        "document.body.append(Object.assign(document.createElement('button'), {id: 'b'}))"
    )
    assert page.evaluate("getComputedStyle(document.getElementById('b')).backgroundColor") == (
        "rgb(255, 0, 0)"
    )
    light_dom_css = page.evaluate("[...document.querySelectorAll('style')].map(s => s.textContent)")
    assert not any(".qb" in css for css in light_dom_css)
    assert not page.errors


def test_quick_controls_send_back_skip_restart(mock_api: MockWidgetApi, new_page: Any) -> None:
    page = new_page()
    open_widget(page, mock_api.url + "/")
    # nothing answered yet: nothing to go back to or restart
    assert page.get_by_role("button", name="Back", exact=True).is_hidden()
    assert page.get_by_role("button", name="Restart").is_hidden()
    page.get_by_role("button", name="Skip").click()
    wait_for_bot(page, "Roughly what budget")
    page.get_by_role("button", name="Back", exact=True).click()
    wait_for_bot(page, "Sure, let's go back.")
    restart = page.locator(f"{W} .controls .ctl", has_text="Restart")
    restart.dblclick()  # asks first: every answer would go (a double click is not a yes)
    assert restart.inner_text() == "Restart: all answers go. Sure?"
    page.wait_for_timeout(600)  # read, then confirmed
    assert len(sent_messages(mock_api)) == 2
    restart.click()
    wait_for_bot(page, "let's start over")
    assert sent_messages(mock_api) == [{"text": "skip"}, {"text": "back"}, {"text": "restart"}]
    assert [t for who, t in messages(page) if who == "visitor"] == ["skip", "back", "restart"]


def test_skip_is_offered_only_where_a_question_may_be_skipped(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    open_widget(page, mock_api.url + "/")
    assert page.get_by_role("button", name="Skip").is_visible()  # the mock's company: may
    type_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    page.locator(f"{W} .choices button", has_text="Over $50k").click()
    wait_for_bot(page, "What's your work email")  # which may not be skipped
    assert page.get_by_role("button", name="Skip").is_hidden()
    assert page.get_by_role("button", name="Back", exact=True).is_visible()


def wait_said(page: Any, text: str) -> None:
    """Wait until the widget's status region (what a screen reader says) holds `text`."""
    page.wait_for_function(
        "([w, text]) => document.querySelector(w).shadowRoot"
        ".querySelector('[role=status]').textContent === text",
        arg=[W, text],
    )


def test_screen_readers_hear_the_bots_new_words_not_the_whole_history_again(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """The messages were a polite live region, filled again from the server on every page
    load of the site with the chat open (and on a resume or a redraw): a screen reader read
    the whole conversation out each time. The log is now not live; a status region says the
    bot's latest turn: the new messages after an answer (the same words again when a question
    is asked again), and where the conversation is after a page load."""
    page = new_page()
    open_widget(page, mock_api.url + "/")
    assert in_shadow(page, "root.querySelector('[role=log]').getAttribute('aria-live')") == "off"
    wait_said(page, "Hi! I'm the Northwind assistant. Three quick questions and I'll connect "
                    "you with the right person. Which company are you with?")
    type_answer(page, "Acme")
    turn = "Nice to meet the Acme team! " \
        "Roughly what budget have you set aside for analytics this year?"
    wait_said(page, turn)
    page.reload()
    wait_for_bot(page, "Roughly what budget")
    wait_said(page, turn)  # where it is: not the whole conversation again
    # An answer the bot asks for again: the same words, said again.
    page.locator(f"{W} .choices button", has_text="Over $50k").click()
    wait_for_bot(page, "What's your work email")
    type_answer(page, "not an email")
    again = 'Sorry, "not an email" doesn\'t look like an email address. ' \
        "What's your work email, so a specialist can follow up?"
    wait_said(page, again)
    said: list[str] = page.evaluate("""(w) => new Promise((done) => {
      const root = document.querySelector(w).shadowRoot;
      const region = root.querySelector('[role=status]'), said = [];
      new MutationObserver(() => said.push(region.textContent)).observe(
        region, {childList: true, characterData: true, subtree: true});
      root.querySelector('#qb-input').value = 'not an email';
      root.querySelector('form.composer').requestSubmit();
      setTimeout(() => done(said), 1500);
    })""", W)
    assert said[-1] == again and "" in said  # emptied first, so that it is a change
    # The end: the focus goes to the closing message, which reads it; not said twice.
    type_answer(page, "dana@acme.example")
    wait_for_bot(page, CLOSING)
    wait_said(page, "")
    assert in_shadow(page, "root.activeElement.textContent").endswith(CLOSING)


def test_a_quick_reply_picked_with_the_keyboard_keeps_the_focus_in_the_chat(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    open_widget(page, mock_api.url + "/")
    type_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    page.locator(f"{W} .choices button", has_text="Over $50k").focus()
    page.keyboard.press("Enter")
    wait_for_bot(page, "What's your work email")
    assert in_shadow(page, "root.activeElement && root.activeElement.id") == "qb-input"
    page.keyboard.type("dana@acme.example")  # and typing goes on without a click
    assert page.locator(INPUT).input_value() == "dana@acme.example"


def test_an_enter_pressed_again_after_the_last_answer_does_not_start_over(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """The last answer sent with Enter, and Enter pressed again a moment later (a double
    press, or a habit): the focus used to move to "Start over", so the second Enter wiped the
    closing message and opened a new conversation. The focus now goes to the closing message
    (a screen reader reads it), and "Start over" is the next Tab stop."""
    page = new_page()
    open_widget(page, mock_api.url + "/")
    type_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    page.locator(f"{W} .choices button", has_text="Over $50k").click()
    wait_for_bot(page, "What's your work email")
    type_answer(page, "dana@acme.example")
    wait_for_bot(page, CLOSING)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert messages(page)[-1] == ("bot", CLOSING)
    assert len(mock_api.api_requests("POST", "/sessions")) == 1
    assert in_shadow(page, "root.activeElement.textContent").endswith(CLOSING)
    page.keyboard.press("Tab")
    assert in_shadow(page, "root.activeElement.textContent") == "Start over"
    # Closed and opened again (Enter on the launcher), the same: the chat is still there.
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert messages(page)[-1] == ("bot", CLOSING)
    assert len(mock_api.api_requests("POST", "/sessions")) == 1


def test_a_server_that_does_not_answer_is_given_up_on_once_and_said_so(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """A message the server never answers: after the request's 20 s the visitor is told, with
    Try again; it is not sent twice more by itself first (a network failure is), which kept
    the typing dots up for a minute."""
    page = new_page()
    page.clock.install()
    open_widget(page, mock_api.url + "/")
    hung: list[Any] = []
    page.route("**/widget/api/sessions/*/messages", lambda route: hung.append(route))  # unanswered
    type_answer(page, "Acme")
    wait_until(page, lambda: len(hung) == 1)
    page.clock.run_for(21_000)
    alert = page.locator(f"{W} .alert", has_text="taking too long to answer")
    alert.wait_for()
    page.clock.run_for(5_000)
    assert len(hung) == 1  # not sent again by itself
    assert page.locator(f"{W} .typing").is_hidden()
    page.unroute("**/widget/api/sessions/*/messages")
    page.get_by_role("button", name="Try again").click()
    wait_for_bot(page, "Nice to meet the Acme team!")
    assert [t for who, t in messages(page) if who == "visitor"] == ["Acme"]


def test_rate_limit_and_network_errors_are_explained(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    open_widget(page, mock_api.url + "/")
    shown = messages(page)

    type_answer(page, "too fast")
    alert = page.locator(f"{W} .alert")
    alert.wait_for()
    assert alert.inner_text() in (
        "You're sending messages too fast, try again in 7 s.",
        "You're sending messages too fast, try again in 6 s.",  # the notice counts down
    )
    assert in_shadow(page, "root.querySelector('.alert').getAttribute('role')") == "alert"
    # The unsent message is taken back and the text returned to the input.
    assert messages(page) == shown
    assert page.locator(INPUT).input_value() == "too fast"

    tried: list[str] = []

    def unreachable(route: Any) -> None:
        tried.append(route.request.post_data_json["message_id"])
        route.abort()

    page.route("**/widget/api/sessions/*/messages", unreachable)
    type_answer(page, "Acme")
    page.locator(f"{W} .alert", has_text="couldn't reach the server").wait_for()
    assert page.locator(f"{W} .typing").is_hidden()
    page.unroute("**/widget/api/sessions/*/messages")
    assert len(tried) == 3 and len(set(tried)) == 1  # sent again twice by itself, then told

    # The notice offers to send it again: the same message (the same id), and it clears.
    page.get_by_role("button", name="Try again").click()
    wait_for_bot(page, "Nice to meet the Acme team!")
    assert alert.is_hidden()
    assert mock_api.api_requests("POST", "/messages")[-1].body["message_id"] == tried[0]
    assert [t for who, t in messages(page) if who == "visitor"] == ["Acme"]
    assert page.locator(INPUT).input_value() == ""
    assert in_shadow(page, "root.activeElement && root.activeElement.id") == "qb-input"

    # A quick reply that failed is picked again the same way.
    page.route("**/widget/api/sessions/*/messages", lambda route: route.fulfill(status=502))
    page.locator(f"{W} .choices button", has_text="Over $50k").click()
    page.locator(f"{W} .alert", has_text="Something went wrong on our side").wait_for()
    page.unroute("**/widget/api/sessions/*/messages")
    page.get_by_role("button", name="Try again").click()
    wait_for_bot(page, "What's your work email")
    assert sent_messages(mock_api)[-1] == {"choice": "over_50k"}


def test_the_length_limit_is_shown_before_sending_and_nothing_is_cut(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """A long answer pasted in used to be cut at 2,000 UTF-16 units without a word (the
    input's maxlength: 1,000 emoji, a paragraph pasted over the limit lost its end). Now
    nothing is cut: near the limit a counter shows up, over it the answer is not sent and
    the visitor is told by how much; the limit is the server's (`max_message_chars`) and
    counted as the server counts it (characters, so an emoji is one)."""
    page = new_page()
    open_widget(page, mock_api.url + "/")
    counter = page.locator(f"{W} .count")
    page.locator(INPUT).fill("a" * 1000)
    assert counter.is_hidden()  # far from the limit: no clutter
    page.locator(INPUT).fill("")
    page.locator(INPUT).focus()
    page.keyboard.insert_text("😀" * 1900)  # as a paste does
    assert page.locator(INPUT).input_value() == "😀" * 1900
    assert counter.inner_text() == "1,900 / 2,000"
    page.keyboard.insert_text("x" * 150)
    assert page.locator(INPUT).input_value() == "😀" * 1900 + "x" * 150  # nothing cut
    assert counter.inner_text() == "2,050 / 2,000"
    assert page.locator(INPUT).get_attribute("aria-invalid") == "true"
    page.locator(INPUT).press("Enter")
    alert = page.locator(f"{W} .alert")
    alert.wait_for()
    assert alert.inner_text() == (
        "Your answer is 2,050 characters long; please shorten it to 2,000 or fewer."
    )
    assert mock_api.api_requests("POST", "/messages") == []
    assert page.locator(INPUT).input_value().endswith("x" * 150)  # still there to edit

    page.locator(INPUT).fill("😀" * 1900 + "x" * 100)  # exactly the limit: sent
    assert alert.is_hidden()  # short enough now: the notice goes as the text is cut
    page.locator(INPUT).press("Enter")
    wait_for_bot(page, "Roughly what budget")
    assert sent_messages(mock_api) == [{"text": "😀" * 1900 + "x" * 100}]
    assert counter.is_hidden() and alert.is_hidden()
    assert page.locator(INPUT).get_attribute("aria-invalid") is None

    # A server configured with a lower limit: the widget counts to that one.
    mock_api.max_message_chars = 300
    page.reload()
    wait_for_bot(page, "Roughly what budget")
    page.locator(INPUT).fill("y" * 290)
    assert counter.inner_text() == "290 / 300"


def test_answers_of_several_lines(mock_api: MockWidgetApi, new_page: Any) -> None:
    """Prospects describing their need write several lines; the answer box was a one-line
    input. It is a textarea now that grows with its lines up to a few (then scrolls): Enter
    sends, Shift+Enter starts a new line, and the Enter that ends an IME composition (a
    Japanese or Chinese word being typed) does neither. The lines show in the visitor's
    bubble and in the bot's words quoting them, as text."""
    page = new_page(reduced_motion="reduce")  # no open animation scaling what is measured
    open_widget(page, mock_api.url + "/")
    box = page.get_by_role("textbox", name="Your answer")
    assert box.evaluate("e => [e.tagName, e.dir, e.rows]") == ["TEXTAREA", "auto", 1]
    hint = in_shadow(page, "root.querySelector('#qb-input').getAttribute('aria-describedby')"
                           ".split(' ').map(id => root.getElementById(id).textContent)")
    assert "Enter sends; Shift+Enter starts a new line." in hint

    def height() -> float:
        found = box.bounding_box()
        assert found is not None
        return float(found["height"])

    one_line = height()
    assert 40 <= one_line <= 44
    box.focus()
    page.keyboard.type("Acme")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type(XSS)
    assert box.input_value() == f"Acme\n{XSS}"
    assert height() > one_line + 15  # two lines in view
    assert mock_api.api_requests("POST", "/messages") == []

    # An Enter that ends an IME composition (both ways browsers mark it) sends nothing ...
    for flags in ("isComposing: true", "keyCode: 229"):
        in_shadow(page, "root.querySelector('#qb-input').dispatchEvent(new KeyboardEvent("
                        f"'keydown', {{key: 'Enter', bubbles: true, cancelable: true, {flags}}}))")
    page.wait_for_timeout(200)
    assert mock_api.api_requests("POST", "/messages") == []
    assert box.input_value() == f"Acme\n{XSS}"
    # ... nor does Shift+Enter; Enter does.
    page.keyboard.press("Enter")
    wait_for_bot(page, "Roughly what budget")
    assert sent_messages(mock_api) == [{"text": f"Acme\n{XSS}"}]
    assert box.input_value() == "" and height() == one_line  # back to one line
    assert in_shadow(page, "root.activeElement && root.activeElement.id") == "qb-input"

    # Both bubbles show the two lines, as text (no element made of the markup).
    assert ("visitor", f"Acme\n{XSS}") in messages(page)
    assert ("bot", f"Nice to meet the Acme\n{XSS} team!") in messages(page)
    # innerText is the text as rendered: a line break in it is one that shows
    visitor, echo = in_shadow(
        page, "[...root.querySelectorAll('.bubble')].slice(-3, -1).map(b => b.innerText)")
    assert visitor.endswith(f"\nAcme\n{XSS}")
    assert echo.endswith(f"\nNice to meet the Acme\n{XSS} team!")
    assert in_shadow(page, "root.querySelectorAll('.bubble img, .bubble b').length") == 0

    # A long answer: a few lines in view, then the box scrolls.
    box.fill("\n".join(f"line {i}" for i in range(12)))
    assert 100 < height() < 130
    assert box.evaluate("e => e.scrollHeight > e.clientHeight "
                        "&& getComputedStyle(e).overflowY === 'auto'")
    page.keyboard.press("Enter")
    wait_for_bot(page, "What's your work email")
    assert sent_messages(mock_api)[-1] == {"text": "\n".join(f"line {i}" for i in range(12))}


def test_on_a_touchscreen_enter_starts_a_new_line_and_the_send_button_sends(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """Phones and tablets have no Shift+Enter, and Enter sent the answer: a prospect could
    not write an answer of several lines there. On a touchscreen Enter now starts a new line
    (the keyboard's key says so) and the send button sends, as in messaging apps, leaving the
    focus in the box so that the keyboard stays up; Ctrl+Enter also sends, for a keyboard
    attached to a tablet."""
    page = new_page(viewport={"width": 390, "height": 640}, is_mobile=True, has_touch=True)
    open_widget(page, mock_api.url + "/")
    box = page.get_by_role("textbox", name="Your answer")
    assert box.get_attribute("enterkeyhint") == "enter"
    hint = in_shadow(page, "root.querySelector('#qb-hint').textContent")
    assert hint == "The send button sends; Enter starts a new line."
    box.focus()
    page.keyboard.type("Acme")
    page.keyboard.press("Enter")
    page.keyboard.type("Robotics")
    page.wait_for_timeout(200)
    assert mock_api.api_requests("POST", "/messages") == []
    assert box.input_value() == "Acme\nRobotics"
    page.locator(SEND).tap()
    wait_for_bot(page, "Roughly what budget")
    assert sent_messages(mock_api) == [{"text": "Acme\nRobotics"}]
    assert box.input_value() == ""
    # the tap left the focus in the box: the keyboard stays up for the next answer
    assert in_shadow(page, "root.activeElement && root.activeElement.id") == "qb-input"

    page.keyboard.type("about 50k")
    page.keyboard.press("Control+Enter")
    wait_for_bot(page, "What's your work email")
    assert sent_messages(mock_api)[-1] == {"text": "about 50k"}


def test_with_a_mouse_and_keyboard_enter_sends_and_so_does_a_click(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """The other side of the touchscreen rule: on a desktop Enter sends, and says so. A click
    on the send button leaves the focus in the box, for the next answer."""
    page = new_page()
    open_widget(page, mock_api.url + "/")
    box = page.get_by_role("textbox", name="Your answer")
    assert box.get_attribute("enterkeyhint") == "send"
    hint = in_shadow(page, "root.querySelector('#qb-hint').textContent")
    assert hint == "Enter sends; Shift+Enter starts a new line."
    box.fill("Acme")
    page.locator(SEND).click()
    wait_for_bot(page, "Roughly what budget")
    assert sent_messages(mock_api) == [{"text": "Acme"}]
    assert in_shadow(page, "root.activeElement && root.activeElement.id") == "qb-input"


def test_right_to_left_answers_read_right_to_left(mock_api: MockWidgetApi, new_page: Any) -> None:
    """Arabic or Hebrew typed in the chat was laid out left to right: "!مرحبا" for "مرحبا!",
    its end punctuation on the wrong side. Each bubble, and the input, now takes its direction
    from its own text (the screen reader's "You: " does not count)."""
    page = new_page()
    open_widget(page, mock_api.url + "/")
    rtl = "شركة الأفق للتقنية!"
    page.locator(INPUT).fill(rtl)
    assert style(page, "#qb-input", "direction") == "rtl"
    page.locator(INPUT).press("Enter")
    wait_for_bot(page, "Roughly what budget")
    directions = in_shadow(page, "[...root.querySelectorAll('.bubble')].map(b => "
                                 "[b.lastChild.textContent, getComputedStyle(b).direction])")
    assert [rtl, "rtl"] in directions
    assert [f"Nice to meet the {rtl} team!", "ltr"] in directions
    assert ["Which company are you with?", "ltr"] in directions


def test_resources_under_the_closing_message_are_links(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """The nurture closing lists the site's resources ("• Buyer's guide: https://…"), which
    were plain text: nothing to tap on a phone. The URLs the server names in `links` are
    links now (absolute http(s) ones only, opened in a new tab); a URL anywhere else, one the
    visitor typed among them, stays text."""
    guide = "https://www.example.com/guide"
    mock_api.resources = [{"label": "Buyer's guide", "url": guide},
                          {"label": "Not a web page", "url": "javascript:alert(1)"}]
    page = new_page()
    open_widget(page, mock_api.url + "/")
    type_answer(page, guide)  # the visitor's words, echoed: never a link
    wait_for_bot(page, "Roughly what budget")
    page.locator(f"{W} .choices button", has_text="Over $50k").click()
    wait_for_bot(page, "What's your work email")
    type_answer(page, "dana@acme.example")
    wait_for_bot(page, CLOSING)
    closing = f"{CLOSING}\n• Buyer's guide: {guide}\n• Not a web page: javascript:alert(1)"
    links = "[...root.querySelectorAll('a')].map(a => [a.textContent, a.href, a.target, a.rel])"
    for _ in ("now", "after a reload"):
        assert messages(page)[-1] == ("bot", closing)
        assert ("bot", f"Nice to meet the {guide} team!") in messages(page)
        assert in_shadow(page, links) == [[guide, guide, "_blank", "noopener noreferrer"]]
        page.reload()
        wait_for_bot(page, CLOSING)


def test_an_answer_typed_while_the_chat_cannot_connect_stays_in_the_input(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    page.route("**/widget/api/opening*", lambda route: route.abort())  # nothing to show
    page.goto(mock_api.url + "/")
    page.locator(LAUNCHER).click()
    unreachable = page.locator(f"{W} .alert", has_text="couldn't reach the server")
    unreachable.wait_for()
    type_answer(page, "Acme")  # tries to connect again first (and fails again) ...
    unreachable.wait_for()
    assert page.locator(INPUT).input_value() == "Acme"  # ... and keeps the answer
    page.unroute("**/widget/api/opening*")
    page.locator(INPUT).press("Enter")  # connects; the answer is still there ...
    wait_for_bot(page, "Which company are you with?")
    assert page.locator(INPUT).input_value() == "Acme"
    assert mock_api.api_requests("POST", "/sessions") == []

    # The first answer starts the session: when that fails, the answer is kept too.
    page.route("**/widget/api/sessions", lambda route: route.abort())
    page.locator(INPUT).press("Enter")
    unreachable.wait_for()
    assert page.locator(INPUT).input_value() == "Acme"
    assert [who for who, _ in messages(page)] == ["bot", "bot"]  # the bubble taken back
    page.unroute("**/widget/api/sessions")
    page.get_by_role("button", name="Try again").click()  # ... and goes out
    wait_for_bot(page, "Nice to meet the Acme team!")
    assert len(mock_api.api_requests("POST", "/sessions")) == 1
    assert sent_messages(mock_api) == [{"text": "Acme"}]
    assert page.locator(INPUT).input_value() == ""


def test_two_tabs_opened_before_any_conversation_end_up_sharing_one(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    first = new_page()
    first.goto(mock_api.url + "/")
    second = first.context.new_page()
    second.goto(mock_api.url + "/")
    second.locator(LAUNCHER).wait_for()
    first.locator(LAUNCHER).click()
    wait_for_bot(first, "Which company are you with?")
    second.locator(LAUNCHER).click()
    wait_for_bot(second, "Which company are you with?")
    assert mock_api.api_requests("POST", "/sessions") == []  # none before the first answer

    def answer_late(route: Any) -> None:  # the first tab may look in between: it must not
        time.sleep(0.5)                    # take up the conversation before its first answer
        route.continue_()

    second.route("**/messages", answer_late)
    type_answer(second, "Acme")
    wait_for_bot(second, "Roughly what budget")
    # the first tab takes up the conversation the answer started: no second one
    wait_for_bot(first, "Roughly what budget")
    assert ("visitor", "Acme") in messages(first)
    first.reload()
    wait_for_bot(first, "Roughly what budget")
    assert ("visitor", "Acme") in messages(first)
    assert len(mock_api.api_requests("POST", "/sessions")) == 1


def test_an_answer_in_a_tab_left_behind_is_refused_and_the_tab_catches_up(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    first = new_page()
    open_widget(first, mock_api.url + "/")
    type_answer(first, "Acme")
    wait_for_bot(first, "Roughly what budget")
    second = first.context.new_page()  # the same visitor, another tab: the same conversation
    second.goto(mock_api.url + "/")  # (opens by itself: the chat was left open)
    second.get_by_role("dialog", name="Chat with us").wait_for()
    wait_for_bot(second, "Roughly what budget")
    first.locator(f"{W} .choices button", has_text="Over $50k").click()
    wait_for_bot(first, "What's your work email")
    type_answer(second, "Globex")  # this tab still shows the budget question
    second.locator(f"{W} .alert", has_text="moved on in another window").wait_for()
    wait_for_bot(second, "What's your work email")  # redrawn as the conversation is now
    assert second.locator(INPUT).input_value() == "Globex"  # the text is not lost
    assert sent_messages(mock_api) == [{"text": "Acme"}, {"choice": "over_50k"},
                                       {"text": "Globex"}]
    assert sent_questions(mock_api) == ["company", "budget", "budget"]
    assert [t for who, t in messages(second) if who == "visitor"] == ["Acme", "Over $50k"]


def test_too_many_new_chats_is_not_called_sending_too_fast(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    page.route("**/widget/api/sessions", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "120"}, content_type="application/json",
        body=json.dumps({"error": {"code": "rate_limited", "message": "Too many new chats."}}),
    ))
    open_widget(page, mock_api.url + "/")
    type_answer(page, "Acme")  # the first answer starts the session
    alert = page.locator(f"{W} .alert")
    alert.wait_for()
    assert alert.inner_text().startswith("We're getting a lot of new chats from your network")
    assert "120 s" in alert.inner_text() or "119 s" in alert.inner_text()
    assert page.locator(INPUT).input_value() == "Acme"
    page.unroute("**/widget/api/sessions")
    page.locator(INPUT).press("Enter")  # sent again, later
    wait_for_bot(page, "Nice to meet the Acme team!")


def test_a_message_whose_answer_was_lost_is_sent_again_with_the_same_id(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    """The server got the message but the answer never arrived (a dropped connection): the
    widget sends it again with the same `message_id`, so the server can tell it is the
    same message and store it once."""
    page = new_page()
    open_widget(page, mock_api.url + "/")
    lost: list[str] = []

    def lose_the_first_answer(route: Any) -> None:
        if lost:
            route.continue_()
            return
        lost.append(route.request.url)
        route.fetch()  # the server handles it ...
        route.abort("connectionreset")  # ... and the answer is lost on the way back

    page.route("**/widget/api/sessions/*/messages", lose_the_first_answer)
    type_answer(page, "Acme")
    wait_for_bot(page, "Nice to meet the Acme team!")
    first, again = mock_api.api_requests("POST", "/messages")
    assert first.body == again.body and first.body["text"] == "Acme"
    assert MESSAGE_ID.fullmatch(first.body["message_id"])
    assert page.locator(f"{W} .alert").is_hidden()
    assert [t for who, t in messages(page) if who == "visitor"] == ["Acme"]


def test_resume_on_another_device(mock_api: MockWidgetApi, new_page: Any) -> None:
    laptop = new_page()
    open_widget(laptop, mock_api.url + "/")
    type_answer(laptop, "Acme Logistics")
    wait_for_bot(laptop, "Roughly what budget")
    code = laptop.locator(f"{W} .code strong").inner_text()
    laptop_session = stored_session(laptop)

    phone = new_page(viewport={"width": 390, "height": 780})
    open_widget(phone, mock_api.url + "/")
    # Before any answer, no session: the visitor can resume without starting one first.
    phone.get_by_role("button", name="Continue a conversation from another device").click()
    assert (
        phone.evaluate("document.querySelector('qualibot-widget').shadowRoot.activeElement.id")
        == "qb-code"
    )
    phone.locator(f"{W} #qb-code").fill(code)
    phone.get_by_role("button", name="Resume", exact=True).click()
    wait_for_bot(phone, "Nice to meet the Acme Logistics team!")
    assert messages(phone) == messages(laptop)
    assert mock_api.api_requests("POST", "/resume")[-1].body == {"resume_code": code}
    assert stored_session(phone)["session_id"] == laptop_session["session_id"]
    assert len(mock_api.api_requests("POST", "/sessions")) == 1  # the laptop's only
    assert phone.locator(f"{W} .resume").is_hidden()
    assert phone.locator(f"{W} .code strong").inner_text() == code
    # On a phone the panel fills the screen.
    box = phone.locator(PANEL).bounding_box()
    assert box and box["width"] == 390

    phone.get_by_role("button", name="Resume a conversation").click()
    phone.locator(f"{W} #qb-code").fill("ZZZZ-0000")
    phone.get_by_role("button", name="Resume", exact=True).click()
    phone.locator(f"{W} .alert", has_text="couldn't find a conversation").wait_for()


@pytest.mark.parametrize("status", ["unknown session", "wrong token"])
def test_a_stale_stored_session_is_dropped_and_a_new_one_started(
    mock_api: MockWidgetApi, new_page: Any, status: str
) -> None:
    page = new_page()
    page.goto(mock_api.url + "/")
    real = mock_api.new_session()
    stale = {
        "session_id": "0" * 32 if status == "unknown session" else real.session_id,
        "token": "not-a-token",
        "resume_code": "OLD-0000",
    }
    key = f"qualibot:v1:session:127.0.0.1:{mock_api.port}"
    page.evaluate("([k, v]) => localStorage.setItem(k, v)", [key, json.dumps(stale)])
    page.reload()
    page.locator(LAUNCHER).click()
    wait_for_bot(page, "Which company are you with?")
    assert stored_session(page) == {"open": True}  # dropped; the new one comes with an answer
    type_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    assert len(mock_api.api_requests("POST", "/sessions")) == 1
    fresh = stored_session(page)
    assert fresh["session_id"] != stale["session_id"]
    assert page.locator(f"{W} .code strong").inner_text() == fresh["resume_code"]
    assert page.locator(f"{W} .alert").is_hidden()


def test_an_expired_conversation_is_followed_by_a_new_one_with_a_word_why(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    open_widget(page, mock_api.url + "/")
    type_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    old = stored_session(page)["session_id"]
    page.route(f"**/widget/api/sessions/{old}", lambda route: route.fulfill(
        status=410, content_type="application/json",
        body=json.dumps({"error": {"code": "session_expired",
                                   "message": "This conversation has expired."}}),
    ))
    page.reload()  # the chat was left open: it reconnects by itself
    wait_for_bot(page, "Which company are you with?")
    alert = page.locator(f"{W} .alert")
    alert.wait_for()
    assert alert.inner_text() == "Your earlier conversation timed out, so this is a new one."
    assert "session_id" not in stored_session(page)
    type_answer(page, "Globex")
    wait_for_bot(page, "Nice to meet the Globex team!")
    assert stored_session(page)["session_id"] != old


def test_cross_origin_embed_with_options_and_tracking_api(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    # The page is on http://localhost:<port>, the script and API on http://127.0.0.1:<port>;
    # the page's CSP allows neither inline scripts nor inline styles.
    page.goto(
        f"http://localhost:{mock_api.port}/cross-origin?framework=CHAMP&locale=de-DE"
        "&greeting=Welcome+to+Contoso&color=%23f59e0b&position=left"
    )
    page.locator(LAUNCHER).wait_for()
    # Events before a session exists are queued, not lost.
    page.evaluate("window.Qualibot.track('pricing_viewed', {plan: 'growth'})")
    assert mock_api.events == []

    page.evaluate("window.Qualibot.open()")
    page.get_by_role("dialog", name="Chat with us").wait_for()
    wait_for_bot(page, "Which company are you with?")
    assert page.locator(f"{W} .title").inner_text() == "Welcome to Contoso"
    assert mock_api.api_requests("GET", "/opening")[0].query == {"framework": "champ"}
    assert mock_api.events == []  # still queued: no session before the first answer
    type_answer(page, "Contoso")
    wait_for_bot(page, "Roughly what budget")
    create = mock_api.api_requests("POST", "/sessions")[0]
    assert create.body["framework"] == "champ"
    assert create.body["locale"] == "de-DE"
    assert create.headers["Origin"] == f"http://localhost:{mock_api.port}"

    # Left-hand side, the site's colour, and dark text on a light accent.
    assert page.locator(LAUNCHER).bounding_box()["x"] < 100
    assert style(page, ".launcher", "backgroundColor") == "rgb(245, 158, 11)"
    assert style(page, ".launcher", "color") == "rgb(15, 23, 42)"

    wait_until(page, lambda: len(mock_api.events) >= 2)
    # Sent together with keepalive fetches: they may arrive in either order.
    assert sorted(e["event"] for _, e in mock_api.events) == ["page_view", "pricing_viewed"]
    pricing = next(e for _, e in mock_api.events if e["event"] == "pricing_viewed")
    assert pricing["props"] == {"plan": "growth"}
    page.evaluate("window.Qualibot.track('demo_watched')")
    wait_until(page, lambda: len(mock_api.events) >= 3)
    assert mock_api.events[-1][1] == {"event": "demo_watched", "props": {}}

    page.evaluate("window.Qualibot.close()")
    page.locator(PANEL).wait_for(state="hidden")
    assert not page.errors


def test_a_typo_in_the_sites_tag_never_reaches_visitors(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    open_widget(page, f"http://localhost:{mock_api.port}/cross-origin?framework=bnat"
                      "&position=LEFT")
    # the chat works, on the server's default framework; the site owner is told in the console
    assert [r.query for r in mock_api.api_requests("GET", "/opening")] == [{"framework": "bnat"},
                                                                          {}]
    type_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    assert [r.body.get("framework") for r in mock_api.api_requests("POST", "/sessions")] == [None]
    assert page.locator(f"{W} .alert").is_hidden()
    assert any("Unknown framework 'bnat'" in w for w in warnings), warnings
    assert page.locator(LAUNCHER).bounding_box()["x"] < 100  # "LEFT" as "left"


def test_pages_seen_before_the_chat_was_opened_still_count(
    mock_api: MockWidgetApi, new_page: Any
) -> None:
    page = new_page()
    page.goto(mock_api.url + "/?from=ad")
    page.locator(LAUNCHER).wait_for()
    page.evaluate("window.Qualibot.track('pricing_viewed', {plan: 'growth'})")
    page.goto(mock_api.url + "/")  # another page of the site; the chat was never opened
    assert mock_api.events == []
    page.locator(LAUNCHER).click()
    wait_for_bot(page, "Which company are you with?")
    type_answer(page, "Acme")  # which starts the session: the events go out with it
    wait_until(page, lambda: len(mock_api.events) >= 3)
    page.wait_for_timeout(200)
    sent = [e["event"] for _, e in mock_api.events]
    assert sorted(sent) == ["page_view", "page_view", "pricing_viewed"]  # each once
    assert page.evaluate("Object.keys(localStorage).filter(k => k.includes(':events:'))") == []


def test_honeypot_is_hidden_and_its_value_is_sent(mock_api: MockWidgetApi, new_page: Any) -> None:
    page = new_page()
    open_widget(page, mock_api.url + "/")
    hp = page.locator(f"{W} input[name=website]")
    assert hp.get_attribute("tabindex") == "-1"
    assert hp.get_attribute("autocomplete") == "off"
    assert hp.get_attribute("aria-hidden") == "true"
    box = hp.bounding_box()
    assert box is None or box["x"] < 0

    type_answer(page, "Acme")
    wait_for_bot(page, "Roughly what budget")
    assert "website" not in mock_api.api_requests("POST", "/messages")[-1].body

    in_shadow(page, "root.querySelector('input[name=website]').value = 'http://spam.example'")
    page.locator(f"{W} .chip").first.click()
    wait_for_bot(page, "What's your work email")
    assert sent_messages(mock_api)[-1] == {"choice": "under_10k", "website": "http://spam.example"}

    # Filled in before the first answer: the session that answer starts carries it too.
    bot_page = new_page()
    open_widget(bot_page, mock_api.url + "/")
    in_shadow(bot_page, "root.querySelector('input[name=website]').value = 'http://spam.example'")
    type_answer(bot_page, "Acme")
    wait_for_bot(bot_page, "Roughly what budget")
    assert mock_api.api_requests("POST", "/sessions")[-1].body["website"] == "http://spam.example"
    assert sent_messages(mock_api)[-1] == {"text": "Acme", "website": "http://spam.example"}


# Any text a visitor might type, with markup-like pieces and line breaks mixed in. Control
# characters (other than the line break) and lone surrogates cannot be typed; the widget trims.
TYPED = (
    st.lists(
        st.one_of(
            st.text(
                st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                max_size=40,
            ),
            st.sampled_from([XSS, "<script>alert(2)</script>", "&amp;", "&lt;b&gt;", "<!--",
                             "</div><div>", '"', "'", "&", "<", ">", "\n", "<b>\n</b>"]),
        ),
        min_size=1,
        max_size=4,
    )
    .map(lambda parts: "".join(parts).strip())
    .filter(lambda text: text and text.lower() not in ("back", "skip", "restart"))
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(typed=TYPED)
def test_whatever_a_visitor_types_is_shown_as_text_never_markup(
    mock_api: MockWidgetApi, new_page: Any, typed: str
) -> None:
    """The visitor's words, and the bot's reply quoting them, appear as exactly those
    characters in text nodes: nothing is parsed as HTML (an injected alert() would fail the
    test through the page's dialog handler)."""
    page = shared_page(mock_api, new_page)
    before = len(messages(page))
    type_answer(page, typed)
    wait_until(page, lambda: len(messages(page)) >= before + 3)
    visitor, reply = messages(page)[before:before + 2]
    assert visitor == ("visitor", typed)
    assert reply == ("bot", f"Nice to meet the {typed} team!")
    # Every bubble is its screen-reader label and one text node: no element came from text.
    assert in_shadow(page, "[...root.querySelectorAll('.bubble')].every(b => "
                           "b.lastChild.nodeType === Node.TEXT_NODE "
                           "&& b.querySelectorAll('*').length <= 1)")
    type_answer(page, "restart")
    wait_until(page, lambda: len(messages(page)) >= before + 6)


_PAGES: dict[int, Any] = {}


def shared_page(mock_api: MockWidgetApi, new_page: Any) -> Any:
    """One open widget for all of a property test's examples (opening one takes a second)."""
    key = id(mock_api)
    if key not in _PAGES:
        _PAGES.clear()
        _PAGES[key] = page = new_page()
        open_widget(page, mock_api.url + "/")
    return _PAGES[key]
