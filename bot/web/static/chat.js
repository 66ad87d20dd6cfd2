// The browser side of the web chat. The contract with the server is ../PROTOCOL.md:
// stored events carry a `seq` and are applied once, in order; transient frames do not.
// Plain ES module, no dependencies, no build step; the page's CSP forbids inline code.

const MAX_LENGTH = 4096; // characters (code points), as the server counts them
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10000;
const TYPING_MS = 5000;
const PRESS_LOCK_MS = 10000;
const NOTICE_MS = 8000;
const NEAR_BOTTOM_PX = 80;
const PING_MS = 60000; // well inside the server's idle limit (WEB_CHAT_IDLE_SECONDS, 600 s)

const texts = JSON.parse(document.getElementById('chat-texts').textContent);
const log = document.getElementById('log');
const form = document.getElementById('composer');
const input = form.elements.message;
const statusLine = document.getElementById('status');
const typing = document.getElementById('typing');
const socketPath = document.body.dataset.socket;
const embedded = document.body.dataset.embed === '1';
const coarsePointer = window.matchMedia('(pointer: coarse)');

const state = {
  socket: null,
  ready: false, // the server has replayed what we missed; frames may be sent
  lastSeq: 0, // highest seq shown: sent in hello, and anything at or below it is a duplicate
  retryMs: RETRY_FIRST_MS,
  retryTimer: 0,
  connection: 'connecting', // key of `texts` for the status line, '' when all is well
  notice: '', // a toast or error, shown in the status line for a while
  noticeTimer: 0,
  typingTimer: 0,
  lastSentNonce: '', // nonce of the last frame sent if it was a message, for refusals
  stuck: true, // the view follows the newest message unless the reader scrolled up
};

// Messages typed here but not yet echoed by the server: nonce -> {text, el}.
// Map keeps insertion order, so a resend after a reconnect keeps the typed order.
const pending = new Map();
// Bot messages whose buttons are disabled after a press: element -> re-enable timer.
const locked = new Map();

// ---- status line -------------------------------------------------------------

function renderStatus() {
  const text = state.notice || (state.connection ? texts[state.connection] || '' : '');
  if (statusLine.textContent !== text) statusLine.textContent = text;
}

function setConnection(key) {
  state.connection = key;
  renderStatus();
}

function showNotice(text) {
  clearTimeout(state.noticeTimer);
  state.notice = text || '';
  renderStatus();
  state.noticeTimer = setTimeout(() => {
    state.notice = '';
    renderStatus();
  }, NOTICE_MS);
}

// ---- scrolling ---------------------------------------------------------------

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
}

function followNewest() {
  if (state.stuck) log.scrollTop = log.scrollHeight;
}

// ---- rendering messages ------------------------------------------------------

function messageElement(from) {
  const el = document.createElement('div');
  el.className = 'msg';
  el.dataset.from = from;
  // Read out by screen readers before the text (CSS ::before), invisible on screen,
  // and not part of the element's text so tests and copy-paste see the message only.
  el.dataset.who = from === 'bot' ? texts.assistant : texts.you;
  // Only what arrives live slides in; a replayed history just appears.
  if (state.ready) el.classList.add('arrived');
  return el;
}

function byMessageId(id) {
  return log.querySelector(`[data-message-id="${CSS.escape(String(id))}"]`);
}

// Confirmed messages go above the pending ones: those are still to come in seq order.
// (insertBefore(el, null) appends; an echoed bubble already in place is not moved, so
// the live region does not read it twice.)
function placeConfirmed(el) {
  const firstPending = log.querySelector('.pending');
  if (!el.parentNode || el.nextElementSibling !== firstPending) {
    log.insertBefore(el, firstPending);
  }
  followNewest();
}

function openLinksInNewTab(root) {
  for (const a of root.querySelectorAll('a[href]')) {
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
  }
}

// Bot html has `\n` line breaks and is shown with white-space: pre-wrap; the break that
// follows a block (a quote, code) would show as an empty line under it, so drop it.
function dropBreakAfterBlocks(root) {
  for (const block of root.querySelectorAll('blockquote, pre')) {
    const next = block.nextSibling;
    if (next && next.nodeType === Node.TEXT_NODE && next.data.startsWith('\n')) {
      next.data = next.data.slice(1);
    }
  }
}

function renderBody(el, html) {
  let body = el.querySelector(':scope > .body');
  if (!body) {
    body = document.createElement('div');
    body.className = 'body';
    el.prepend(body);
  }
  body.innerHTML = html || ''; // sanitised by the server; bot messages only
  dropBreakAfterBlocks(body);
  openLinksInNewTab(body);
}

function renderFile(el, file) {
  if (!file || !file.url) return;
  const line = document.createElement('p');
  line.className = 'file';
  const link = document.createElement('a');
  link.href = file.url;
  link.textContent = texts.file;
  if (file.name) link.download = file.name;
  line.append(link);
  if (file.name) {
    const name = document.createElement('span');
    name.className = 'file-name';
    name.textContent = file.name;
    line.append(' ', name);
  }
  el.append(line);
}

function renderButtons(el, rows) {
  el.querySelector(':scope > .buttons')?.remove();
  if (!rows || !rows.length) return;
  const box = document.createElement('div');
  box.className = 'buttons';
  for (const row of rows) {
    const line = document.createElement('div');
    line.className = 'button-row';
    for (const button of row) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = button.text;
      b.dataset.press = button.data;
      line.append(b);
    }
    box.append(line);
  }
  el.append(box);
}

function showBotMessage(event) {
  const el = messageElement('bot');
  el.dataset.messageId = event.message_id;
  renderBody(el, event.html);
  renderFile(el, event.file);
  renderButtons(el, event.buttons);
  hideTyping();
  unlockAll(); // the answer to a press came as a new message: other presses are fine now
  placeConfirmed(el);
}

function customerBubble(text) {
  const el = messageElement('customer');
  el.textContent = text; // the customer's text is never HTML
  return el;
}

function showCustomerMessage(event) {
  const mine = event.nonce && pending.get(event.nonce);
  let el;
  if (mine) {
    // The echo of a bubble shown here already: it becomes that message, no duplicate.
    pending.delete(event.nonce);
    el = mine.el;
    el.classList.remove('pending');
    el.removeAttribute('aria-busy');
    delete el.dataset.note;
  } else {
    el = customerBubble(event.text); // sent from another tab, or before a reload
  }
  el.dataset.messageId = event.message_id;
  placeConfirmed(el);
}

function editMessage(event) {
  const el = byMessageId(event.message_id);
  if (!el || el.dataset.from !== 'bot') return;
  const hadFocus = el.contains(document.activeElement);
  unlock(el);
  if (typeof event.html === 'string') renderBody(el, event.html); // else buttons only
  renderButtons(el, event.buttons);
  if (hadFocus) input.focus(); // the focused button is gone
  followNewest();
}

function deleteMessage(event) {
  const el = byMessageId(event.message_id);
  if (!el) return;
  const hadFocus = el.contains(document.activeElement);
  unlock(el);
  el.remove();
  if (hadFocus) input.focus();
}

// ---- typing indicator --------------------------------------------------------

function showTyping() {
  typing.querySelector('.typing-who').textContent = texts.typing || texts.assistant;
  typing.hidden = false;
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(hideTyping, TYPING_MS);
  followNewest();
}

function hideTyping() {
  clearTimeout(state.typingTimer);
  typing.hidden = true;
}

// ---- buttons -----------------------------------------------------------------

function setButtonsDisabled(el, disabled) {
  for (const b of el.querySelectorAll('.buttons button')) b.disabled = disabled;
}

// Against double presses: a message's buttons wait for the answer, at most 10 s.
function lock(el) {
  unlock(el);
  setButtonsDisabled(el, true);
  locked.set(el, setTimeout(() => unlock(el), PRESS_LOCK_MS));
}

function unlock(el) {
  if (!locked.has(el)) return;
  clearTimeout(locked.get(el));
  locked.delete(el);
  setButtonsDisabled(el, false);
}

function unlockAll() {
  for (const el of [...locked.keys()]) unlock(el);
}

function messageIdValue(el) {
  const id = el.dataset.messageId;
  return /^\d+$/.test(id) ? Number(id) : id; // ids are numbers on the wire
}

function onLogClick(event) {
  const button = event.target.closest('button[data-press]');
  if (!button || button.disabled) return;
  const el = button.closest('[data-message-id]');
  if (!el) return;
  if (!state.ready) {
    showNotice(texts[state.connection] || texts.reconnecting);
    return;
  }
  send({ type: 'press', message_id: messageIdValue(el), data: button.dataset.press });
  state.lastSentNonce = '';
  // Disabling the focused button would drop focus to <body>; the textarea is the next
  // useful place. detail === 0 means keyboard; on touch screens it would pop the keyboard.
  if (event.detail === 0 || !coarsePointer.matches) input.focus();
  lock(el);
}

// ---- sending -----------------------------------------------------------------

function makeNonce() {
  if (crypto.randomUUID) return crypto.randomUUID(); // only in secure contexts
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function send(frame) {
  state.socket.send(JSON.stringify(frame));
}

function sendMessage(nonce, text) {
  send({ type: 'message', text, nonce });
  state.lastSentNonce = nonce;
}

function onSubmit(event) {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  if (Array.from(text).length > MAX_LENGTH) {
    showNotice(texts.too_long);
    return;
  }
  const nonce = makeNonce();
  const el = customerBubble(text);
  el.classList.add('pending');
  el.setAttribute('aria-busy', 'true');
  el.dataset.note = texts.sending;
  log.append(el);
  pending.set(nonce, { text, el });
  if (state.ready) sendMessage(nonce, text); // else sent once the socket is ready
  input.value = '';
  fitInput();
  state.stuck = true;
  followNewest();
}

// The server refused a message (too long, too fast): it will never be echoed, so take
// the bubble back and give the text back to the customer to send again.
function takeBackRefused(nonce) {
  const item = pending.get(nonce);
  if (!item) return;
  pending.delete(nonce);
  item.el.remove();
  if (!input.value) {
    input.value = item.text;
    fitInput();
  }
}

function onKeydown(event) {
  // Enter sends, Shift+Enter is a newline; not while an IME is composing a word.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
}

// The textarea grows with its text up to the CSS max-height, then scrolls.
function fitInput() {
  input.style.height = 'auto';
  input.style.height = `${input.scrollHeight + 2}px`;
}

// ---- the socket --------------------------------------------------------------

function connect() {
  clearTimeout(state.retryTimer);
  if (!navigator.onLine) {
    setConnection('offline');
    return; // the `online` event connects again
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${location.host}${socketPath}`);
  state.socket = socket;
  state.ready = false;
  socket.addEventListener('open', () => {
    socket.send(JSON.stringify({ type: 'hello', after: state.lastSeq }));
  });
  socket.addEventListener('message', (event) => {
    if (socket === state.socket) onFrame(event.data); // not from one dropped when offline
  });
  socket.addEventListener('close', (event) => onClose(socket, event.code));
}

function onClose(socket, code) {
  if (socket !== state.socket) return; // an old socket we already gave up on
  state.socket = null;
  state.ready = false;
  hideTyping();
  if (!navigator.onLine) {
    setConnection('offline');
    return;
  }
  setConnection('reconnecting');
  // Refused for the origin or for too many sockets: trying again soon will not help.
  if (code === 4403 || code === 4429) state.retryMs = RETRY_MAX_MS;
  state.retryTimer = setTimeout(connect, state.retryMs);
  state.retryMs = Math.min(state.retryMs * 2, RETRY_MAX_MS);
}

// The server closes a socket it has heard nothing from for a while: an open page says
// it is still there.
function ping() {
  if (state.ready && state.socket) send({ type: 'ping' });
}

// A page put in the back/forward cache keeps no socket (it would count against the
// visitor's open chats); shown again, it resumes where it was.
function onPageHide(event) {
  if (!event.persisted) return;
  const socket = state.socket;
  state.socket = null;
  state.ready = false;
  clearTimeout(state.retryTimer);
  socket?.close();
}

function onPageShow(event) {
  if (!event.persisted || state.socket) return;
  state.retryMs = RETRY_FIRST_MS;
  connect();
}

function onReady() {
  state.ready = true;
  state.retryMs = RETRY_FIRST_MS; // reset only now: a socket closed at once is no success
  setConnection('');
  // Messages typed while away, or sent but not echoed before the socket broke. Their
  // echo was not in the replay, so the server has not got them; the same nonce makes a
  // second copy harmless anyway.
  for (const [nonce, item] of pending) sendMessage(nonce, item.text);
  followNewest();
}

function applyEvent(event) {
  // Replays after a reconnect and other tabs overlap with what is shown: drop those.
  if (event.seq <= state.lastSeq) return;
  state.lastSeq = event.seq;
  if (event.type === 'message') {
    if (event.from === 'customer') showCustomerMessage(event);
    else showBotMessage(event);
  } else if (event.type === 'edit') {
    editMessage(event);
  } else if (event.type === 'delete') {
    deleteMessage(event);
  }
}

function onFrame(data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return;
  }
  if (typeof frame.seq === 'number') {
    applyEvent(frame);
    return;
  }
  switch (frame.type) {
    case 'ready':
      onReady();
      break;
    case 'typing':
      showTyping();
      break;
    case 'toast':
      // Every press is answered (a toast with or without words): its buttons work again.
      unlockAll();
      if (frame.text) showNotice(frame.text);
      break;
    case 'error':
      showNotice(frame.text || texts[frame.reason]);
      if (frame.reason === 'too_long' || frame.reason === 'too_fast') {
        // The protocol's error has no nonce; the refused frame is the last one sent.
        takeBackRefused(frame.nonce || state.lastSentNonce);
      }
      break;
  }
}

// ---- start -------------------------------------------------------------------

function onWindowKeydown(event) {
  // Inside the widget's iframe Escape never reaches the host page: tell the widget.
  if (event.key === 'Escape' && embedded && window.parent !== window) {
    window.parent.postMessage({ type: 'privacy-help:escape' }, '*');
  }
}

function start() {
  form.addEventListener('submit', onSubmit);
  input.addEventListener('keydown', onKeydown);
  input.addEventListener('input', fitInput);
  log.addEventListener('click', onLogClick);
  log.addEventListener('scroll', () => {
    state.stuck = nearBottom();
  });
  // Growing messages, a shrinking window (a phone's keyboard): keep the newest in view.
  new ResizeObserver(followNewest).observe(log);
  window.addEventListener('keydown', onWindowKeydown);
  window.addEventListener('pagehide', onPageHide);
  window.addEventListener('pageshow', onPageShow);
  setInterval(ping, PING_MS);
  window.addEventListener('online', () => {
    state.retryMs = RETRY_FIRST_MS;
    if (!state.socket) connect();
  });
  window.addEventListener('offline', () => {
    // A socket may hang until a timeout when the network goes: drop it now (onClose
    // ignores it) and connect afresh on `online`.
    const socket = state.socket;
    state.socket = null;
    state.ready = false;
    clearTimeout(state.retryTimer);
    socket?.close();
    hideTyping();
    setConnection('offline');
  });
  if (embedded) {
    // The widget asks for this when it opens: the message box is where one starts.
    window.addEventListener('message', (event) => {
      if (event.source === window.parent && event.data?.type === 'privacy-help:focus') {
        input.focus();
      }
    });
  }
  setConnection(navigator.onLine ? 'connecting' : 'offline');
  connect();
}

start();
