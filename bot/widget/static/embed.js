/*!
 * Qualibot website chat widget — embed script.
 *
 * A site adds one tag:
 *   <script src="https://<host>/widget/embed.js" data-framework="bant" async></script>
 * Options (data- attributes): framework, locale, greeting, colour (or color), position (right|left).
 *
 * Plain ES2019+, no dependencies, no build step. Design notes:
 * - Everything the widget draws lives in an open shadow root on a <qualibot-widget> host, so the
 *   site's CSS cannot restyle the widget and the widget's CSS cannot leak into the site.
 * - Text from the API (bot messages, which may echo what a visitor typed) is only ever rendered
 *   with textContent / text nodes. This file never uses innerHTML.
 * - The JSON API lives next to this file (…/widget/embed.js -> …/widget/api), so the script works
 *   on any site as long as the API answers CORS requests from it.
 * - Page API: window.Qualibot = { open(), close(), track(event, props) }. Calls made before the
 *   script loaded can be queued as window.Qualibot = { q: [["track", "demo_watched", {}]] }.
 */
(function () {
  "use strict";

  // A second copy of the tag must not draw a second widget.
  if (window.Qualibot && window.Qualibot.version) return;
  const preloadQueue = (window.Qualibot && Array.isArray(window.Qualibot.q)) ? window.Qualibot.q : [];

  // ---------------------------------------------------------------------------------------------
  // Configuration
  // ---------------------------------------------------------------------------------------------

  // currentScript is only set while this file is first executing (and is null under some
  // loaders), so read it now, falling back to finding our tag by its src.
  const script = document.currentScript || findOwnTag();
  function findOwnTag() {
    const tags = document.querySelectorAll("script[src]");
    for (let i = tags.length - 1; i >= 0; i--) {
      if (/\/widget\/embed\.js(?:[?#]|$)/.test(tags[i].src)) return tags[i];
    }
    return null;
  }
  const data = (script && script.dataset) || {};
  const scriptUrl = new URL(script ? script.src : "/widget/embed.js", location.href);
  // Resolve relative to the script so a path prefix (reverse proxy) keeps working:
  // https://host/widget/embed.js -> https://host/widget/api
  const API = new URL("api", scriptUrl).href;

  const config = {
    framework: (data.framework || "").trim().toLowerCase(), // "": the server's default
    locale: data.locale || navigator.language || "en",
    greeting: data.greeting || "Hi there! How can we help?",
    colour: data.colour || data.color || "",
    position: (data.position || "").trim().toLowerCase() === "left" ? "left" : "right",
  };

  const T = {
    sub: "Answer a few quick questions and we'll connect you with the right person.",
    dialog: "Chat with us",
    open: "Open chat",
    close: "Close chat",
    input: "Your answer",
    hint: "Enter sends; Shift+Enter starts a new line.",
    hintTouch: "The send button sends; Enter starts a new line.",
    type: "Type your answer…",
    orType: "Or type your answer…",
    send: "Send",
    back: "Back",
    skip: "Skip",
    restart: "Restart",
    restartSure: "Restart: all answers go. Sure?",
    choices: "Suggested answers",
    startOver: "Start over",
    codeBefore: "Resume on another device with code ",
    resumeLink: "Resume a conversation",
    resumeFirst: "Continue a conversation from another device",
    resumeLabel: "Enter the code from your other device",
    resume: "Resume",
    cancel: "Cancel",
    badCode: "We couldn't find a conversation with that code. Please check it and try again.",
    offline: "We couldn't reach the server. Check your connection and try again.",
    slow: "The server is taking too long to answer. Please try again in a moment.",
    server: "Something went wrong on our side. Please try again in a moment.",
    generic: "Something went wrong. Please try again.",
    tooFast: (n) => `You're sending messages too fast, try again in ${n} s.`,
    tooFastSoon: "You're sending messages too fast, try again in a moment.",
    // a 429 when a chat is being opened: too many new ones from the visitor's network
    busy: (n) => `We're getting a lot of new chats from your network; please try again in ${n} s.`,
    busySoon: "We're getting a lot of new chats from your network; please try again in a moment.",
    expired: "This conversation has ended here: it expired, or was continued on another device.",
    movedOn: "This conversation moved on in another window; here is where it is now.",
    expiredNew: "Your earlier conversation timed out, so this is a new one.",
    newChat: "Start a new one",
    retry: "Try again",
    you: "You: ",
    bot: "Assistant: ",
    count: (n, max) => `${num(n)} / ${num(max)}`,
    tooLong: (n, max) => `Your answer is ${num(n)} characters long; please shorten it to ${num(max)} or fewer.`,
  };
  const num = (n) => n.toLocaleString("en");

  // ---------------------------------------------------------------------------------------------
  // Storage: {session_id, token, resume_code, open} under a namespaced key (just {open} while
  // the chat is open before any session). localStorage may be missing or throw (privacy modes,
  // sandboxed iframes), so fall back to sessionStorage, then to memory (the conversation then
  // lasts as long as the page).
  // ---------------------------------------------------------------------------------------------

  const KEY = "qualibot:v1:session:" + scriptUrl.host;
  const store = (() => {
    for (const name of ["localStorage", "sessionStorage"]) {
      try {
        const s = window[name];
        s.setItem("qualibot:probe", "1");
        s.removeItem("qualibot:probe");
        return s;
      } catch (_) { /* try the next one */ }
    }
    const m = new Map();
    return {
      getItem: (k) => (m.has(k) ? m.get(k) : null),
      setItem: (k, v) => m.set(k, String(v)),
      removeItem: (k) => m.delete(k),
    };
  })();

  function readKey() {
    try {
      return JSON.parse(store.getItem(KEY)) || {};
    } catch (_) {
      return {}; // corrupt or unavailable: start fresh
    }
  }

  function loadStored() {
    const s = readKey();
    return typeof s.session_id === "string" && typeof s.token === "string" ? s : null;
  }

  function save() {
    try {
      if (state.session || state.open) store.setItem(KEY, JSON.stringify({ ...state.session, open: state.open }));
      else store.removeItem(KEY);
    } catch (_) { /* quota or privacy mode: keep working from memory */ }
  }

  const stored = loadStored();
  const wasOpen = !!readKey().open;

  const state = {
    session: stored && { session_id: stored.session_id, token: stored.token, resume_code: stored.resume_code || "" },
    synced: false, // the history on screen is the server's (session restored or created)
    preview: false, // no session yet: the screen shows the opening (the first answer creates one)
    expired: false, // the stored conversation had expired (the next new one says so)
    messages: [],
    done: false,
    busy: false,
    open: false,
    unsent: null, // { key, id } of a message whose sending failed without a clear answer
    maxChars: 2000, // the longest message the server takes (it says so with each session)
  };

  // Another tab of the site stored a conversation: this one takes it up too, unless something
  // was already typed here (so two tabs opened before either had a conversation end up
  // sharing one instead of the last one saved silently replacing the other).
  window.addEventListener("storage", (ev) => {
    if (ev.key !== KEY || !ev.newValue) return;
    const other = loadStored();
    if (!other || (state.session && other.session_id === state.session.session_id)) return;
    if (state.messages.some((m) => m.from === "visitor")) return;
    state.session = { session_id: other.session_id, token: other.token, resume_code: other.resume_code || "" };
    state.synced = state.preview = false;
    if (state.open) sync(false).catch(() => { /* retried at the next message */ });
  });

  // ---------------------------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------------------------

  function apiError(status, json, retryAfter) {
    const err = (json && json.error) || {};
    return {
      status,
      code: err.code || "",
      message: typeof err.message === "string" ? err.message : "",
      retryAfter: parseRetryAfter(retryAfter),
    };
  }

  // Retry-After is either seconds or an HTTP date. (Cross-origin, the server must list it in
  // Access-Control-Expose-Headers, otherwise the browser hides it and we say "in a moment".)
  function parseRetryAfter(value) {
    if (!value) return 0;
    const secs = /^\d+$/.test(value.trim()) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
    return secs > 0 ? Math.ceil(secs) : 0;
  }

  function sid() {
    return encodeURIComponent(state.session.session_id);
  }

  async function api(method, path, body, token) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    const ctrl = new AbortController();
    let timedOut = false; // never leave the typing dots up forever
    const timer = setTimeout(() => { timedOut = true; ctrl.abort(); }, REQUEST_TIMEOUT_MS);
    let res;
    try {
      res = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", // auth is the bearer token; no cookies cross sites
        signal: ctrl.signal,
      });
    } catch (_) {
      throw Object.assign(apiError(0), { timedOut }); // offline, DNS, CORS, timeout
    } finally {
      clearTimeout(timer);
    }
    let json = null;
    try { json = await res.json(); } catch (_) { /* empty body (202) or not JSON */ }
    if (!res.ok) throw apiError(res.status, json, res.headers.get("Retry-After"));
    return json || {};
  }

  // A visitor message's idempotency key: sent again with the same id, the server changes
  // nothing and answers with the current question (see "message_id" in docs/WIDGET.md).
  function newMessageId() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    const bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The request may or may not have reached the server: safe to repeat with the same id.
  const isUncertain = (e) => e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504;
  const RESEND_DELAYS_MS = [400, 1200];
  const REQUEST_TIMEOUT_MS = 20000;
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // POST a visitor message; on a network failure or a gateway error, send it again (same
  // message_id) a couple of times after a short delay before giving up. Not after a timeout:
  // a server that took 20 s would only keep the visitor waiting another 40.
  async function postMessage(body) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api("POST", `/sessions/${sid()}/messages`, body, state.session.token);
      } catch (e) {
        if (!isUncertain(e) || e.timedOut || attempt >= RESEND_DELAYS_MS.length) throw e;
        await pause(RESEND_DELAYS_MS[attempt]);
      }
    }
  }

  // The stored session is gone for good (expired, deleted, or the token was revoked).
  const isGone = (e) => e.status === 401 || e.status === 404 || e.status === 410;

  // Session work (restore, create, resume) runs one at a time, in order, so a double click or an
  // open() racing the idle-time restore never creates two sessions.
  let chain = Promise.resolve();
  function serial(fn) {
    const run = chain.then(fn);
    chain = run.catch(() => {});
    return run;
  }

  const setMax = (res) => {
    if (Number.isInteger(res.max_message_chars) && res.max_message_chars > 0) state.maxChars = res.max_message_chars;
  };

  // `keep`: the screen already shows this conversation (the opening, now answered); it is
  // stored once its first answer is in (send), so that another tab taking it up sees that.
  function adopt(res, keep) {
    state.session = { session_id: res.session_id, token: res.token, resume_code: res.resume_code || "" };
    setMax(res);
    state.synced = true;
    state.preview = false;
    if (!keep) {
      save();
      setHistory(res.messages, !!res.done);
    }
    flush();
  }

  // Make sure the screen shows the server's conversation: restore the stored one (if any) and,
  // when `show` is set and there is none, show the opening (GET /opening: nothing is stored).
  // The session is created by the visitor's first answer (send), so that looking, or resuming
  // a conversation from another device, leaves no empty conversation behind.
  function sync(show) {
    return serial(async () => {
      if (state.session ? state.synced : !show || state.preview) return;
      setBusy(true);
      try {
        if (state.session) {
          try {
            const res = await api("GET", `/sessions/${sid()}`, undefined, state.session.token);
            adopt({ ...state.session, ...res, token: state.session.token });
          } catch (e) {
            if (!isGone(e)) throw e;
            forget();
            state.expired = e.code === "session_expired";
          }
        }
        if (!state.session && show) {
          const res = await opening();
          setMax(res);
          state.preview = true;
          setHistory(res.messages, false);
          // say why the chat starts afresh (the answers are kept on the server)
          if (state.expired) showError({ message: T.expiredNew });
          state.expired = false;
        }
      } finally {
        setBusy(false);
      }
    });
  }

  async function opening() {
    try {
      return await api("GET", "/opening" + (config.framework ? "?framework=" + encodeURIComponent(config.framework) : ""));
    } catch (e) {
      if (e.code !== "unknown_framework" || !config.framework) throw e;
      // A typo in the site's tag is the site owner's to fix, not the visitor's: say so in
      // the console and chat with the server's default framework.
      console.warn(`Qualibot: ${e.message} Using the default framework.`);
      config.framework = "";
      return opening();
    }
  }

  // A 429 here is about new chats from the visitor's network, not about sending too fast.
  function createSession() {
    const body = { framework: config.framework || undefined, locale: config.locale, page: location.href };
    if (ui.hp.value) body.website = ui.hp.value; // honeypot: the backend drops bots
    return api("POST", "/sessions", body).catch((e) => { throw Object.assign(e, { opening: true }); });
  }

  function forget() {
    state.session = null;
    state.synced = state.preview = false;
    save();
    setHistory([], false);
  }

  function resume(code) {
    return serial(async () => {
      hideAlert();
      setBusy(true);
      try {
        adopt(await api("POST", "/resume", { resume_code: code }));
        ui.resumeForm.hidden = true;
        ui.code.value = "";
        focusInput();
      } catch (e) {
        showError([400, 404, 410, 422].includes(e.status) ? { message: T.badCode } : e);
      } finally {
        setBusy(false);
      }
    });
  }

  async function send(body, shown, typed) {
    if (state.busy || state.done) return;
    const asGiven = { ...body }; // for "Try again"
    if (!state.synced && !state.preview) {
      if (typed && !ui.input.value) ui.input.value = shown; // the composer emptied it
      start(); // (re)connect first; a typed answer stays in the input
      return;
    }
    hideAlert();
    // The question on screen: if the conversation has moved on meanwhile (another tab, another
    // device), the server refuses the answer (409) instead of taking it for another question.
    const asked = currentQuestion();
    if (asked && asked.id) body.question = String(asked.id);
    // The same message typed or clicked again after a failure keeps its id: if the first
    // attempt did reach the server, it is not taken as the answer to the next question.
    const key = JSON.stringify(body);
    body.message_id = state.unsent && state.unsent.key === key ? state.unsent.id : newMessageId();
    if (ui.hp.value) body.website = ui.hp.value;
    // A quick reply picked with the keyboard is redrawn (or disabled) while sending, which
    // drops the focus to the page: it comes back to the input (keyboard users stay in the chat).
    const shadow = ui.root.getRootNode();
    const focusWasHere = !!shadow.activeElement;
    // Draw the visitor's bubble at once; take it back if the server never got it, so the
    // screen keeps matching the stored conversation.
    const mine = addMessage({ from: "visitor", text: shown });
    refresh();
    setBusy(true);
    try {
      // The first answer to the opening starts the conversation (which starts with the same
      // question: if not, the server refuses the answer, 409, as for one from a stale tab).
      if (!state.session) adopt(await createSession(), true);
      const res = await postMessage(body);
      state.unsent = null;
      for (const m of list(res.messages)) if (m.from !== "visitor") addMessage(m);
      state.done = !!res.done;
      say();
    } catch (e) {
      state.unsent = isUncertain(e) ? { key, id: body.message_id } : null;
      state.messages.splice(state.messages.indexOf(mine), 1);
      mine.node.remove();
      if (typed && !ui.input.value) ui.input.value = shown;
      if (isGone(e)) {
        forget();
        showError({ message: T.expired }, { label: T.newChat, run: start });
      } else if (e.status === 409 && e.code === "conflict") {
        // Redraw the conversation as it is now; the typed text stays in the input.
        state.synced = false;
        sync(false).then(() => showError({ message: T.movedOn }), (err) => showError(err));
      } else if (e.status === 0 || e.status >= 500) {
        // The same message again (with the same id, see above): a typed one from the input,
        // where it is back, and as edited there.
        showError(e, { label: T.retry, run: () => (typed ? submitTyped() : send(asGiven, shown)) });
      } else {
        showError(e);
      }
    } finally {
      save(); // a conversation this answer started (or nothing, if it ended: see forget)
      setBusy(false);
      refresh();
      // when done, the input just disappeared: focus moves to the closing message
      if (state.done || (focusWasHere && !shadow.activeElement)) focusInput();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Tracking: events wait in a queue until a session is confirmed, then go out with
  // fetch(keepalive) — sendBeacon cannot carry the Authorization header. The queue is kept in
  // storage too, so that the pages a visitor saw before opening the chat still count.
  // ---------------------------------------------------------------------------------------------

  const EVENTS_KEY = "qualibot:v1:events:" + scriptUrl.host;
  const MAX_QUEUED = 50; // a visitor who never opens the chat: bounded storage
  const events = (() => {
    try {
      const queued = JSON.parse(store.getItem(EVENTS_KEY));
      return Array.isArray(queued) ? queued.filter((e) => e && typeof e.event === "string").slice(-MAX_QUEUED) : [];
    } catch (_) {
      return [];
    }
  })();

  function keepQueue() {
    try {
      if (events.length) store.setItem(EVENTS_KEY, JSON.stringify(events));
      else store.removeItem(EVENTS_KEY);
    } catch (_) { /* quota or privacy mode: the queue lives as long as the page */ }
  }

  function track(event, props) {
    if (typeof event !== "string" || !event) return;
    events.push({ event, props: props && typeof props === "object" ? props : {} });
    if (events.length > MAX_QUEUED) events.shift();
    keepQueue();
    flush();
  }

  function flush() {
    if (!state.session || !state.synced || !events.length) return;
    const { session_id, token } = state.session;
    while (events.length) {
      fetch(`${API}/sessions/${encodeURIComponent(session_id)}/events`, {
        method: "POST",
        keepalive: true, // survives navigation away from the page
        credentials: "omit",
        headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
        body: JSON.stringify(events.shift()),
      }).catch(() => { /* tracking is best effort */ });
    }
    keepQueue();
  }

  track("page_view", { path: location.pathname, title: document.title, referrer: document.referrer });

  // ---------------------------------------------------------------------------------------------
  // DOM helpers (text only: children are nodes or strings, and strings become text nodes)
  // ---------------------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  const ICONS = {
    chat: "M21 11.5a8.4 8.4 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.4 8.4 0 0 1-3.8-.9L3 21l1.9-5.7a8.4 8.4 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.4 8.4 0 0 1 3.8-.9h.5a8.5 8.5 0 0 1 8 8v.5z",
    close: "M18 6 6 18M6 6l12 12",
    down: "m6 9 6 6 6-6",
    send: "M22 2 11 13M22 2l-7 20-4-9-9-4 20-7z",
  };
  function icon(name, cls) {
    const NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (cls) svg.setAttribute("class", cls);
    const path = document.createElementNS(NS, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  const list = (x) => (Array.isArray(x) ? x.filter((m) => m && typeof m === "object") : []);

  // ---------------------------------------------------------------------------------------------
  // UI
  // ---------------------------------------------------------------------------------------------

  let ui = null;

  function build() {
    const host = document.createElement("qualibot-widget"); // custom tag: no site selector matches it
    const shadow = host.attachShadow({ mode: "open" });
    const u = {};

    // The log is not live: it is redrawn from the server on every page load of the site, and
    // would be read out whole each time. What a screen reader says is in u.status (say()).
    u.log = el("div", { class: "log", role: "log", "aria-live": "off" });
    u.status = el("div", { class: "sr", role: "status" });
    u.typing = el("div", { class: "typing", hidden: true, "aria-hidden": "true" }, el("span"), el("span"), el("span"));
    u.choices = el("div", { class: "choices", role: "group", "aria-label": T.choices, hidden: true });
    u.body = el("div", { class: "body" }, u.log, u.typing, u.choices, u.status);
    // Keep the end of the conversation in view when the message area shrinks (an on-screen
    // keyboard opening, a window resized), unless the visitor had scrolled up to read.
    let atEnd = true;
    u.body.addEventListener("scroll", () => { atEnd = u.body.scrollHeight - u.body.scrollTop - u.body.clientHeight < 24; }, { passive: true });
    if (window.ResizeObserver) new ResizeObserver(() => atEnd && scrollDown()).observe(u.body);

    u.alertText = el("span");
    u.alertBtn = el("button", { type: "button", hidden: true, onclick: () => { const a = alertAction; hideAlert(); if (a) a.run(); } });
    u.alert = el("div", { class: "alert", role: "alert", hidden: true }, u.alertText, u.alertBtn);

    const ctl = (label, word, ...before) => el("button", { type: "button", class: "ctl", onclick: () => send({ text: word }, word) }, ...before, label);
    u.back = ctl(T.back, "back", el("span", { "aria-hidden": "true", text: "← " })); // named "Back", not "left arrow Back"
    u.skip = ctl(T.skip, "skip");
    // Restart throws every answer away: the first click asks, a second one within 5 s restarts
    // (but not the second half of a double click: the question must have been on screen).
    let confirmTimer = 0;
    let askedAt = 0;
    const unconfirm = () => { clearTimeout(confirmTimer); confirmTimer = 0; u.restart.textContent = T.restart; };
    u.restart = el("button", {
      type: "button", class: "ctl", text: T.restart,
      onclick: () => {
        if (!confirmTimer) {
          u.restart.textContent = T.restartSure;
          confirmTimer = setTimeout(unconfirm, 5000);
          askedAt = Date.now();
          return;
        }
        if (Date.now() - askedAt < 500) return;
        unconfirm();
        send({ text: "restart" }, "restart");
      },
    });
    u.controls = el("div", { class: "controls", hidden: true }, u.back, u.skip, u.restart);

    // Honeypot: invisible to people and skipped by keyboard and screen readers; naive bots fill it.
    u.hp = el("input", { class: "hp", type: "text", name: "website", tabindex: "-1", autocomplete: "off", "aria-hidden": "true" });
    // No maxlength: it would cut a long paste without a word. A counter shows up near the
    // server's limit instead, and an answer over it is not sent (countChars). A textarea, for
    // answers of several lines: it grows with them (countChars), Enter sends, Shift+Enter
    // starts a new line, and the Enter that ends an IME composition (Japanese, Chinese...)
    // only ends it (Safari tells that one by keyCode 229 alone). On a touchscreen (phones,
    // tablets) there is no Shift+Enter, so there, as in messaging apps, Enter starts a new
    // line and the send button sends (Ctrl/Cmd+Enter too, for an attached keyboard).
    const touch = !!(window.matchMedia && window.matchMedia("(pointer: coarse)").matches);
    u.input = el("textarea", {
      class: "input", id: "qb-input", name: "message", rows: "1", dir: "auto", "aria-describedby": "qb-hint qb-count",
      autocomplete: "off", enterkeyhint: touch ? "enter" : "send", placeholder: T.type, oninput: () => countChars(),
      onkeydown: (ev) => {
        if (ev.key !== "Enter" || ev.isComposing || ev.keyCode === 229) return;
        if (touch ? ev.ctrlKey || ev.metaKey : !ev.shiftKey) {
          ev.preventDefault();
          submitTyped();
        }
      },
    });
    u.count = el("p", { class: "count", id: "qb-count", hidden: true });
    u.composer = el("form", {
      class: "composer",
      onsubmit: (ev) => {
        ev.preventDefault();
        submitTyped();
      },
    }, u.hp, el("label", { class: "sr", for: "qb-input", text: T.input }), el("span", { class: "sr", id: "qb-hint", text: touch ? T.hintTouch : T.hint }), u.input,
    // A click or tap on send leaves the focus in the answer box (a phone's keyboard stays up
    // for the next answer); keyboard users still reach the button with Tab.
    el("button", { type: "submit", class: "send", "aria-label": T.send, onmousedown: (ev) => ev.preventDefault() }, icon("send")), u.count);

    u.startOver = el("button", { type: "button", class: "btn", text: T.startOver, onclick: startOver });
    u.finished = el("div", { class: "finished", hidden: true }, u.startOver);

    u.code = el("input", {
      class: "input", id: "qb-code", type: "text", name: "resume_code", autocomplete: "off",
      autocapitalize: "characters", spellcheck: "false", placeholder: "ABCD-1234", maxlength: "64",
    });
    u.resumeForm = el("form", {
      class: "resume", hidden: true,
      onsubmit: (ev) => {
        ev.preventDefault();
        const code = u.code.value.trim();
        if (code && !state.busy) resume(code);
      },
    }, el("label", { for: "qb-code", text: T.resumeLabel }),
    el("div", { class: "row" }, u.code,
      el("button", { type: "submit", class: "btn", text: T.resume }),
      el("button", { type: "button", class: "btn ghost", text: T.cancel, onclick: () => { u.resumeForm.hidden = true; focusInput(); } })));

    u.codeValue = el("strong");
    u.codeLine = el("p", { class: "code", hidden: true }, T.codeBefore, u.codeValue);
    u.resumeLink = el("button", {
      type: "button", class: "link", text: T.resumeFirst,
      onclick: () => { u.resumeForm.hidden = !u.resumeForm.hidden; if (!u.resumeForm.hidden) u.code.focus(); scrollDown(); },
    });
    const foot = el("footer", { class: "foot" }, u.codeLine, u.resumeLink);

    const head = el("header", { class: "head" },
      el("div", { class: "avatar", "aria-hidden": "true" }, icon("chat")),
      el("div", { class: "titles" }, el("h2", { class: "title", text: config.greeting }), el("p", { class: "sub", text: T.sub })),
      el("button", { type: "button", class: "close", "aria-label": T.close, onclick: close }, icon("close")));

    u.panel = el("section", { class: "panel", id: "qb-panel", role: "dialog", "aria-label": T.dialog },
      head, u.alert, u.body, u.controls, u.composer, u.finished, u.resumeForm, foot);
    u.launcher = el("button", {
      type: "button", class: "launcher", "aria-label": T.open, "aria-expanded": "false", "aria-controls": "qb-panel",
      onclick: () => (state.open ? close() : open()),
    }, icon("chat", "i-chat"), icon("down", "i-down"));

    u.root = el("div", { class: "qb " + config.position, lang: config.locale }, u.panel, u.launcher);
    u.root.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && state.open) { ev.stopPropagation(); close(); }
      if (ev.key === "Tab" && state.open && coversPage()) keepTabInside(ev);
    });
    // On a phone the panel covers the page: Tab and Shift+Tab go round inside it (the page
    // behind cannot be seen), and a screen reader is told it is modal.
    const phone = window.matchMedia && window.matchMedia("(max-width: 480px)");
    const coversPage = () => !!(phone && phone.matches);
    const markModal = () => u.panel.setAttribute("aria-modal", String(coversPage()));
    markModal();
    if (phone && phone.addEventListener) phone.addEventListener("change", markModal);
    const keepTabInside = (ev) => {
      const stops = [...u.panel.querySelectorAll("button, input, textarea, a[href], [tabindex='0']")]
        .filter((n) => !n.disabled && n.getClientRects().length);
      const active = u.root.getRootNode().activeElement;
      const first = stops[0], last = stops[stops.length - 1];
      if (!first) return;
      if (ev.shiftKey ? active === first || !u.panel.contains(active) : active === last) {
        ev.preventDefault();
        (ev.shiftKey ? last : first).focus();
      }
    };
    // Also when focus fell back to the page body (e.g. after a click on the panel's background),
    // but never steal Escape from the site's own widgets.
    document.addEventListener("keydown", (ev) => {
      const active = document.activeElement;
      if (ev.key === "Escape" && state.open && (!active || active === document.body)) close();
    });

    // A constructed stylesheet is not "inline style" to a Content-Security-Policy, so the widget
    // still looks right on sites whose CSP forbids 'unsafe-inline' styles; <style> elsewhere.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(STYLES);
      shadow.adoptedStyleSheets = [sheet];
    } catch (_) {
      shadow.append(el("style", { text: STYLES }));
    }
    shadow.append(u.root);
    // On <html>, not <body>: a transform or filter on the site's body would pin the
    // "position: fixed" launcher to the body (the end of the page) instead of the screen.
    document.documentElement.append(host);
    ui = u;
    applyColour();
    setHistory(state.messages, state.done);
  }

  // Accent colour from data-colour; the text on it is white or near-black, whichever reads better.
  function applyColour() {
    const c = config.colour;
    if (!c || !(window.CSS && CSS.supports("color", c))) return;
    const root = ui.root;
    root.style.setProperty("--qb-accent", c);
    root.style.color = c;
    const rgb = (getComputedStyle(root).color.match(/[\d.]+/g) || []).slice(0, 3).map(Number);
    root.style.color = "";
    if (rgb.length < 3) return;
    const lin = rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    const L = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    if ((L + 0.05) / 0.05 > 1.05 / (L + 0.05)) { // black contrasts more than white
      root.style.setProperty("--qb-on-accent", "#0f172a");
      root.style.setProperty("--qb-accent-text", "#0f172a");
    }
  }

  function addMessage(m) {
    const from = m.from === "visitor" ? "visitor" : "bot";
    const msg = { from, text: String(m.text == null ? "" : m.text), question: m.question, links: m.links };
    state.messages.push(msg);
    if (ui) {
      msg.node = el("div", { class: "msg " + from, tabindex: "-1" }, // focusable by script only
        // dir=auto: the text's own direction (Arabic, Hebrew: right to left); the screen
        // reader's prefix has a dir of its own, so it does not decide it.
        el("p", { class: "bubble", dir: "auto" }, el("span", { class: "sr", dir: "ltr", text: from === "bot" ? T.bot : T.you }),
          ...(from === "bot" ? linked(msg.text, msg.links) : [msg.text])));
      ui.log.append(msg.node);
    }
    return msg;
  }

  // A bot message's `links` (the resources under a nurture closing) become links where their
  // URL stands in its text: absolute http(s) URLs only. Nothing else is ever made markup.
  function linked(text, links) {
    let parts = [text];
    for (const l of list(links)) {
      const url = String(l.url);
      if (!/^https?:\/\/\S+$/i.test(url)) continue;
      const a = () => el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url });
      parts = parts.flatMap((p) => (typeof p === "string" ? p.split(url).flatMap((s, i) => (i ? [a(), s] : [s])) : [p]));
    }
    return parts;
  }

  function setHistory(messages, done) {
    const old = state.messages;
    state.messages = [];
    state.done = !!done;
    if (ui) ui.log.textContent = "";
    for (const m of (old === messages ? old : list(messages))) addMessage(m);
    refresh();
    say();
  }

  // What a screen reader says: the bot's latest turn (its messages after the visitor's last
  // one), after an answer and wherever a conversation is drawn (opened, restored, resumed).
  // Not at the end: the focus goes to the closing message then, which reads it.
  let sayTimer = 0;
  function say() {
    if (!ui) return;
    const turn = [];
    for (let i = state.messages.length - 1; i >= 0 && !state.done && state.messages[i].from === "bot"; i--) turn.unshift(state.messages[i].text);
    ui.status.textContent = ""; // emptied first: the same words again are a change, said again
    clearTimeout(sayTimer);
    if (turn.length) sayTimer = setTimeout(() => { ui.status.textContent = turn.join(" "); }, 100);
  }

  // The question the visitor is answering now: the last bot question with no visitor reply after it.
  function currentQuestion() {
    for (let i = state.messages.length - 1; i >= 0; i--) {
      const m = state.messages[i];
      if (m.from === "visitor") return null;
      if (m.question && typeof m.question === "object") return m.question;
    }
    return null;
  }

  const AUTOFILL = { name: "name", email: "email", company: "organization" };

  // Bring every control in line with the state.
  function refresh() {
    if (!ui) return;
    const q = state.done ? null : currentQuestion();
    const options = q ? list(q.options) : [];
    ui.choices.textContent = "";
    for (const o of options) {
      const label = String(o.label == null ? o.value : o.label);
      ui.choices.append(el("button", {
        type: "button", class: "chip", text: label, disabled: state.busy,
        onclick: () => send({ choice: o.value }, label),
      }));
    }
    ui.choices.hidden = !options.length;
    ui.input.placeholder = options.length ? T.orType : T.type;
    ui.input.setAttribute("autocomplete", (q && AUTOFILL[q.criterion]) || "off");
    ui.input.setAttribute("inputmode", q && q.criterion === "email" ? "email" : "text");

    const active = (state.synced || state.preview) && state.messages.length > 0;
    // Only what can work: back and restart once something was answered, skip where allowed.
    const answered = state.messages.some((m) => m.from === "visitor");
    ui.back.hidden = ui.restart.hidden = !answered;
    ui.skip.hidden = !q || q.skippable === false;
    ui.composer.hidden = state.done;
    countChars();
    ui.controls.hidden = state.done || !active || (ui.back.hidden && ui.skip.hidden);
    ui.finished.hidden = !state.done;
    const code = state.synced ? state.session.resume_code : "";
    ui.codeValue.textContent = code || "";
    ui.codeLine.hidden = !code;
    ui.resumeLink.textContent = state.synced ? T.resumeLink : T.resumeFirst;
    scrollDown();
  }

  function submitTyped() {
    const text = ui.input.value.trim();
    if (!text || state.busy) return;
    const n = countChars();
    if (n > state.maxChars) return showError({ message: T.tooLong(n, state.maxChars), tooLong: true });
    ui.input.value = "";
    send({ text }, text, true);
  }

  // The answer's length as the server counts it (code points: an emoji is one), shown from
  // 90% of the limit on; over it the input is marked invalid. Returns the length. Also fits
  // the input's height to its lines (up to its max-height, then it scrolls).
  function countChars() {
    const input = ui.input;
    input.style.height = "";
    if (input.scrollHeight) input.style.height = input.scrollHeight + input.offsetHeight - input.clientHeight + "px";
    const n = [...input.value.trim()].length;
    const max = state.maxChars;
    const show = !state.done && n >= max * 0.9;
    ui.count.hidden = !show;
    ui.count.textContent = show ? T.count(n, max) : "";
    ui.count.classList.toggle("over", n > max);
    if (n > max) ui.input.setAttribute("aria-invalid", "true");
    else ui.input.removeAttribute("aria-invalid");
    if (n <= max && alertTooLong) hideAlert(); // cut down to size: the notice has done its work
    return n;
  }

  function setBusy(busy) {
    state.busy = busy;
    if (!ui) return;
    ui.typing.hidden = !busy;
    ui.log.setAttribute("aria-busy", String(busy));
    for (const b of ui.choices.querySelectorAll("button")) b.disabled = busy;
    scrollDown();
  }

  function scrollDown() {
    if (ui) ui.body.scrollTop = ui.body.scrollHeight;
  }

  let alertAction = null;
  let alertTimer = 0;
  let alertTooLong = false; // the notice on show is about an answer over the length limit
  function showError(e, action) {
    if (!ui) return;
    hideAlert();
    let text;
    if (e.status === 429) {
      const [wait, soon] = e.opening ? [T.busy, T.busySoon] : [T.tooFast, T.tooFastSoon];
      let n = e.retryAfter;
      if (n) {
        // Count down, then clear the notice by itself.
        const tick = () => { if (n <= 0) hideAlert(); else ui.alertText.textContent = wait(n--); };
        alertTimer = setInterval(tick, 1000);
        text = wait(n--);
      } else {
        text = soon;
      }
    } else if (e.status === 0) {
      text = e.timedOut ? T.slow : T.offline;
    } else if (e.status >= 500) {
      text = T.server;
    } else {
      text = e.message || T.generic; // the API's own words, e.g. a validation message
    }
    ui.alertText.textContent = text;
    alertTooLong = !!e.tooLong;
    alertAction = action || null;
    ui.alertBtn.hidden = !action;
    ui.alertBtn.textContent = action ? action.label : "";
    ui.alert.hidden = false;
  }

  function hideAlert() {
    clearInterval(alertTimer);
    alertTooLong = false;
    alertAction = null;
    if (ui) ui.alert.hidden = true;
  }

  // When the conversation is over, the focus goes to its last message (a screen reader reads
  // it; "Start over" is the next Tab stop), never to "Start over" itself: an Enter pressed
  // twice on the last answer, or on the launcher, would throw the closing message away.
  function focusInput() {
    if (!ui || !state.open) return;
    const last = state.messages[state.messages.length - 1];
    (!state.done ? ui.input : last ? last.node : ui.startOver).focus({ preventScroll: true });
  }

  // Connect (restore, or show the opening) and report failures with a way to try again.
  function start() {
    hideAlert();
    sync(true).then(focusInput, (e) => showError(e, { label: T.retry, run: start }));
  }

  function startOver() {
    hideAlert();
    forget();
    start();
  }

  // ---------------------------------------------------------------------------------------------
  // Page API
  // ---------------------------------------------------------------------------------------------

  let openWhenReady = false;

  function open() {
    if (!ui) { openWhenReady = true; return; }
    if (state.open) return focusInput();
    state.open = true;
    ui.root.classList.add("open");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", T.close);
    save();
    follow(true);
    focusInput();
    if (!state.synced && !state.preview) start();
  }

  function close() {
    if (!ui) { openWhenReady = false; return; }
    if (!state.open) return;
    const hadFocus = ui.root.contains(ui.root.getRootNode().activeElement);
    state.open = false;
    ui.root.classList.remove("open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", T.open);
    save();
    follow(false);
    if (hadFocus) ui.launcher.focus();
  }

  // iOS Safari does not shrink the layout viewport for its on-screen keyboard: the full-screen
  // panel of a phone went on under the keyboard. While the chat is open, the visual viewport
  // (the part of the page in view) gives the panel its height and top (--qb-vh, --qb-top; only
  // the phone layout uses them). Without visualViewport, nothing changes.
  const vv = window.visualViewport;
  function fit() {
    ui.root.style.setProperty("--qb-vh", vv.height + "px");
    ui.root.style.setProperty("--qb-top", vv.offsetTop + "px");
  }
  function follow(on) {
    if (!vv) return;
    for (const type of ["resize", "scroll"]) vv[on ? "addEventListener" : "removeEventListener"](type, fit);
    if (on) fit();
    else for (const name of ["--qb-vh", "--qb-top"]) ui.root.style.removeProperty(name);
  }

  const Qualibot = { version: "1", open, close, track };
  window.Qualibot = Qualibot;

  // ---------------------------------------------------------------------------------------------
  // Styles (all inside the shadow root)
  // ---------------------------------------------------------------------------------------------

  // (Not named CSS: that would shadow window.CSS, used in applyColour.)
  const STYLES = `
:host { all: initial; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
/* The site can still set inherited properties on the host with !important (which beats :host),
   so reset them again one level down, where no site selector can reach. */
.qb {
  all: initial;
  --qb-accent: #4f46e5; --qb-on-accent: #fff; --qb-accent-text: var(--qb-accent);
  --qb-ink: #0f172a; --qb-muted: #64748b; --qb-line: #e2e8f0; --qb-soft: #f1f5f9;
  position: fixed; bottom: 24px; right: 24px; z-index: 2147483000;
  font: 400 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--qb-ink); text-align: left; -webkit-font-smoothing: antialiased;
}
.qb.left { right: auto; left: 24px; }
button { font: inherit; color: inherit; background: none; border: 0; margin: 0; padding: 0; cursor: pointer; }
button:focus-visible { outline: 2px solid var(--qb-accent); outline-offset: 2px; }
button:disabled { cursor: default; opacity: .5; }
svg { width: 20px; height: 20px; fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }
.sr { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }

.launcher {
  display: grid; place-items: center; width: 56px; height: 56px; border-radius: 50%;
  background: var(--qb-accent); color: var(--qb-on-accent);
  box-shadow: 0 10px 28px rgba(15, 23, 42, .24), 0 2px 6px rgba(15, 23, 42, .14);
  transition: transform .2s ease, box-shadow .2s ease;
}
.launcher:hover { transform: translateY(-2px); box-shadow: 0 14px 32px rgba(15, 23, 42, .28), 0 2px 6px rgba(15, 23, 42, .14); }
.launcher svg { width: 26px; height: 26px; }
.launcher .i-down, .open .launcher .i-chat { display: none; }
.open .launcher .i-down { display: block; }

.panel {
  position: absolute; bottom: 72px; right: 0; display: flex; flex-direction: column;
  width: 380px; max-width: calc(100vw - 32px); height: min(620px, calc(100vh - 120px));
  background: #fff; border-radius: 18px; overflow: hidden; border: 1px solid rgba(15, 23, 42, .06);
  box-shadow: 0 24px 64px rgba(15, 23, 42, .24), 0 4px 14px rgba(15, 23, 42, .08);
  opacity: 0; visibility: hidden; transform: translateY(12px) scale(.98); transform-origin: bottom right;
  transition: opacity .18s ease, transform .18s ease, visibility 0s linear .18s;
}
.left .panel { right: auto; left: 0; transform-origin: bottom left; }
.open .panel { opacity: 1; visibility: visible; transform: none; transition: opacity .18s ease, transform .18s ease; }

.head {
  display: flex; align-items: flex-start; gap: 12px; padding: 18px 14px 18px 18px; color: var(--qb-on-accent);
  background: linear-gradient(135deg, rgba(255, 255, 255, .18), rgba(0, 0, 0, .16)), var(--qb-accent);
}
.avatar { flex: none; display: grid; place-items: center; width: 40px; height: 40px; border-radius: 50%; background: rgba(255, 255, 255, .2); }
.titles { flex: 1; min-width: 0; }
.title { margin: 1px 0 0; font-size: 16px; font-weight: 650; line-height: 1.3; overflow-wrap: anywhere; }
.sub { margin: 3px 0 0; font-size: 12.5px; line-height: 1.4; opacity: .88; }
.close { flex: none; display: grid; place-items: center; width: 32px; height: 32px; border-radius: 8px; }
.close:hover { background: rgba(255, 255, 255, .18); }

.alert { display: flex; align-items: center; gap: 12px; padding: 10px 16px; font-size: 13px; background: #fef2f2; color: #991b1b; border-bottom: 1px solid #fecaca; }
.alert button { margin-left: auto; flex: none; font-weight: 600; text-decoration: underline; }

.body { flex: 1; overflow-y: auto; overscroll-behavior: contain; padding: 18px 16px 12px; background: #f8fafc; }
.log { display: flex; flex-direction: column; gap: 6px; }
.msg { display: flex; }
.msg.visitor { justify-content: flex-end; }
.msg.bot + .msg.visitor, .msg.visitor + .msg.bot { margin-top: 8px; }
.bubble { margin: 0; max-width: 84%; text-align: start; padding: 9px 13px; border-radius: 16px; white-space: pre-wrap; overflow-wrap: anywhere; }
.bot .bubble { background: #fff; border: 1px solid var(--qb-line); border-bottom-left-radius: 5px; box-shadow: 0 1px 2px rgba(15, 23, 42, .04); }
.msg:focus { outline: none; }
.bubble a { color: var(--qb-accent-text); text-decoration: underline; text-underline-offset: 2px; }
.visitor .bubble { background: var(--qb-accent); color: var(--qb-on-accent); border-bottom-right-radius: 5px; }

.typing { display: inline-flex; gap: 4px; margin-top: 8px; padding: 12px 14px; background: #fff; border: 1px solid var(--qb-line); border-radius: 16px; border-bottom-left-radius: 5px; }
.typing span { width: 7px; height: 7px; border-radius: 50%; background: #94a3b8; animation: qb-dot 1.2s infinite ease-in-out both; }
.typing span:nth-child(2) { animation-delay: .15s; }
.typing span:nth-child(3) { animation-delay: .3s; }
@keyframes qb-dot { 0%, 80%, 100% { opacity: .35; transform: none; } 40% { opacity: 1; transform: translateY(-3px); } }

.choices { display: flex; flex-wrap: wrap; justify-content: flex-end; gap: 8px; margin-top: 12px; }
.chip {
  padding: 7px 14px; border-radius: 999px; border: 1.5px solid var(--qb-accent); background: #fff;
  color: var(--qb-accent-text); font-weight: 600; font-size: 13.5px; transition: background .15s, color .15s;
}
.chip:hover:not(:disabled) { background: var(--qb-accent); color: var(--qb-on-accent); }

.controls { display: flex; gap: 2px; padding: 6px 10px 0; background: #fff; border-top: 1px solid var(--qb-line); }
.ctl { padding: 4px 8px; border-radius: 6px; font-size: 12.5px; color: var(--qb-muted); }
.ctl:hover { background: var(--qb-soft); color: var(--qb-ink); }
.controls + .composer { border-top: 0; }

.composer { position: relative; display: flex; flex-wrap: wrap; align-items: flex-end; gap: 8px; padding: 8px 12px 12px; background: #fff; border-top: 1px solid var(--qb-line); }
.count { flex-basis: 100%; margin: -2px 54px 0 0; font-size: 12px; text-align: right; color: var(--qb-muted); }
.count.over { color: #b91c1c; font-weight: 600; }
.input {
  flex: 1; min-width: 0; height: 42px; padding: 0 14px; font: inherit; color: inherit; background: #fff;
  border: 1px solid #cbd5e1; border-radius: 12px; outline: none; transition: border-color .15s, box-shadow .15s;
}
textarea.input { display: block; height: auto; max-height: 122px; padding: 10px 14px; line-height: 20px; resize: none; overflow-y: auto; }
.input::placeholder { color: #94a3b8; }
.input:focus { outline: none; border-color: var(--qb-accent); box-shadow: 0 0 0 1px var(--qb-accent); }
.send { flex: none; display: grid; place-items: center; width: 42px; height: 42px; border-radius: 12px; background: var(--qb-accent); color: var(--qb-on-accent); }
.send svg { width: 18px; height: 18px; }
.hp { position: absolute; left: -10000px; top: 0; width: 1px; height: 1px; opacity: 0; pointer-events: none; }

.finished { display: flex; justify-content: center; padding: 14px 16px; background: #fff; border-top: 1px solid var(--qb-line); }
.btn { height: 40px; padding: 0 18px; border-radius: 10px; background: var(--qb-accent); color: var(--qb-on-accent); font-weight: 600; }
.btn.ghost { background: var(--qb-soft); color: var(--qb-ink); }
.resume { padding: 12px 16px; background: #fff; border-top: 1px solid var(--qb-line); }
.resume label { display: block; margin-bottom: 6px; font-size: 12.5px; font-weight: 600; }
.resume .row { display: flex; gap: 8px; }
.resume .input { height: 40px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; letter-spacing: .04em; }

.foot {
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 2px 12px;
  padding: 9px 16px 11px; font-size: 12px; color: var(--qb-muted); background: #fff; border-top: 1px solid var(--qb-line);
}
.code { margin: 0; }
.code strong { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 600; color: var(--qb-ink); letter-spacing: .03em; user-select: all; white-space: nowrap; }
.link { font-size: 12px; font-weight: 600; color: var(--qb-accent-text); text-decoration: underline; text-underline-offset: 2px; }

@media (max-width: 480px) {
  .qb { bottom: 16px; right: 16px; }
  .qb.left { left: 16px; }
  .panel { position: fixed; inset: var(--qb-top, 0px) 0 auto; width: auto; max-width: none; height: var(--qb-vh, 100%); border-radius: 0; border: 0; }
  .open .launcher { display: none; }
  .input { font-size: 16px; } /* under 16px, iOS Safari zooms the page in on focus */
  .resume .row { flex-wrap: wrap; }
  .resume .input { flex: 1 1 100%; } /* the whole code in view; the buttons below it */
}
@media (max-height: 480px) { /* a phone with its keyboard up: room for the conversation */
  .head { align-items: center; padding: 8px 10px 8px 14px; }
  .avatar { width: 30px; height: 30px; }
  .sub { display: none; }
}
@media (prefers-reduced-motion: reduce) {
  .panel, .open .panel, .launcher, .chip { transition: none; } /* .open .panel: its own rule outranks .panel */
  .typing span { animation: none; opacity: .7; }
}
`;

  // ---------------------------------------------------------------------------------------------
  // Start: nothing heavy before the DOM is ready; the stored conversation loads when idle.
  // ---------------------------------------------------------------------------------------------

  function init() {
    build();
    const api = { open, close, track };
    for (const call of preloadQueue) {
      if (Array.isArray(call) && typeof api[call[0]] === "function") api[call[0]](...call.slice(1));
    }
    if (openWhenReady || wasOpen) {
      open(); // continue an open conversation after a refresh or on another page of the site
    } else if (state.session) {
      const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 300));
      idle(() => sync(false).catch(() => { /* retried when the visitor opens the chat */ }), { timeout: 3000 });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init, { once: true });
  else init();
})();
