/* The embeddable privacy-help widget. A shop's site adds
 *   <script src="https://HOST/widget.js" data-shop="kivismart" async></script>
 * (optional: data-lang="cs", data-label="…" for the button's text).
 * It adds a launcher button and a panel with the chat page in an iframe. The host page is
 * not ours: its CSP may forbid inline style attributes and <style>, so every style is set
 * through element.style; it touches no element of the page and one global only
 * (window.__privacyHelpWidget), which also makes a second copy of the tag do nothing.
 */
(function () {
  'use strict';

  var GLOBAL = '__privacyHelpWidget';
  var MOBILE = '(max-width: 480px)';
  var ACCENT = '#0b57d0';
  var Z = 2147483000;
  // The launcher's words in the bot's languages; English for any other.
  var WORDS = {
    en: ['Ask about your data', 'Close', 'Privacy help chat'],
    cs: ['Zeptejte se na své údaje', 'Zavřít', 'Chat o ochraně osobních údajů'],
    de: ['Fragen zu Ihren Daten', 'Schließen', 'Datenschutz-Chat'],
    pl: ['Zapytaj o swoje dane', 'Zamknij', 'Czat o prywatności'],
    ru: ['Спросите о своих данных', 'Закрыть', 'Чат о конфиденциальности'],
    sv: ['Fråga om dina uppgifter', 'Stäng', 'Chatt om integritet'],
    uk: ['Запитайте про свої дані', 'Закрити', 'Чат про конфіденційність'],
  };

  if (window[GLOBAL]) return;
  var script =
    document.currentScript || document.querySelector('script[src$="/widget.js"][data-shop]');
  if (!script || !script.getAttribute('data-shop')) return;
  window[GLOBAL] = { version: 1 };

  var origin = new URL(script.src, location.href).origin;
  var shop = script.getAttribute('data-shop');
  var lang = (script.getAttribute('data-lang') || document.documentElement.lang || '')
    .split('-')[0]
    .toLowerCase();
  var words = WORDS[lang] || WORDS.en;
  var label = script.getAttribute('data-label') || words[0];
  var mobile = window.matchMedia(MOBILE);

  var launcher, panel, closeButton, iframe;
  var loaded = false; // before its load the iframe holds about:blank, which cannot hear us

  function css(el, styles) {
    for (var key in styles) el.style[key] = styles[key];
  }

  // Host pages style bare elements (button { … }); pin what matters to us.
  var RESET = {
    boxSizing: 'border-box',
    margin: '0',
    textTransform: 'none',
    letterSpacing: 'normal',
    textAlign: 'center',
    textShadow: 'none',
    minWidth: '0',
    maxWidth: 'none',
    float: 'none',
  };

  function svg(path) {
    var ns = 'http://www.w3.org/2000/svg';
    var icon = document.createElementNS(ns, 'svg');
    icon.setAttribute('viewBox', '0 0 24 24');
    icon.setAttribute('width', '22');
    icon.setAttribute('height', '22');
    icon.setAttribute('aria-hidden', 'true');
    icon.setAttribute('focusable', 'false');
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('d', path);
    p.setAttribute('fill', 'currentColor');
    icon.appendChild(p);
    css(icon, { display: 'block', flex: 'none' });
    return icon;
  }

  // :focus-visible cannot be written in element.style, so draw the ring on focus. A white
  // and a blue ring: visible on light and dark host pages alike.
  function focusRing(el, resting) {
    el.addEventListener('focus', function () {
      var visible = true;
      try {
        visible = el.matches(':focus-visible');
      } catch (e) {}
      if (visible) el.style.boxShadow = '0 0 0 3px #ffffff, 0 0 0 6px ' + ACCENT;
    });
    el.addEventListener('blur', function () {
      el.style.boxShadow = resting;
    });
  }

  function makeLauncher() {
    var b = document.createElement('button');
    b.type = 'button';
    b.id = 'privacy-help-launcher';
    b.setAttribute('aria-expanded', 'false');
    b.setAttribute('aria-controls', 'privacy-help-panel');
    b.appendChild(svg('M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z'));
    var text = document.createElement('span');
    text.textContent = label;
    b.appendChild(text);
    var shadow = '0 2px 10px rgba(0, 0, 0, 0.3)';
    css(b, RESET);
    css(b, {
      position: 'fixed',
      right: '20px',
      bottom: '20px',
      zIndex: String(Z),
      display: 'inline-flex',
      alignItems: 'center',
      gap: '8px',
      width: 'auto',
      height: 'auto',
      minHeight: '48px',
      padding: '12px 18px',
      border: '2px solid #ffffff',
      borderRadius: '999px',
      background: ACCENT,
      color: '#ffffff',
      font: '600 15px/1.2 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
      cursor: 'pointer',
      boxShadow: shadow,
      outline: 'none',
    });
    focusRing(b, shadow);
    b.addEventListener('click', function () {
      isOpen() ? close() : open();
    });
    return b;
  }

  function makePanel() {
    var p = document.createElement('div');
    p.id = 'privacy-help-panel';
    p.setAttribute('role', 'dialog');
    p.setAttribute('aria-label', label);
    p.hidden = true;
    css(p, {
      position: 'fixed',
      zIndex: String(Z + 1),
      display: 'none',
      overflow: 'hidden',
      background: '#ffffff',
      boxShadow: '0 8px 30px rgba(0, 0, 0, 0.35)',
      boxSizing: 'border-box',
      margin: '0',
      padding: '0',
    });

    closeButton = document.createElement('button');
    closeButton.type = 'button';
    closeButton.setAttribute('aria-label', words[1]);
    closeButton.appendChild(svg('M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z'));
    css(closeButton, RESET);
    // Over the chat's compact header, which leaves room for it on the right.
    css(closeButton, {
      position: 'absolute',
      top: '4px',
      right: '4px',
      width: '36px',
      height: '36px',
      padding: '7px',
      display: 'flex',
      alignItems: 'center',
      justifyContent: 'center',
      border: '1px solid #ffffff',
      borderRadius: '50%',
      background: '#1b1f24',
      color: '#ffffff',
      cursor: 'pointer',
      outline: 'none',
      boxShadow: 'none',
    });
    focusRing(closeButton, 'none');
    closeButton.addEventListener('click', close);
    p.appendChild(closeButton);
    return p;
  }

  // The iframe (and with it the chat's socket) is made on first open, not on every page view.
  function makeIframe() {
    var src = origin + '/chat/' + encodeURIComponent(shop) + '?embed=1';
    if (lang) src += '&lang=' + encodeURIComponent(lang);
    var f = document.createElement('iframe');
    f.src = src;
    f.title = words[2];
    f.setAttribute('referrerpolicy', 'strict-origin-when-cross-origin');
    css(f, {
      display: 'block',
      width: '100%',
      height: '100%',
      border: '0',
      margin: '0',
      padding: '0',
      background: 'transparent',
    });
    // Opened before the chat had loaded: ask again now that it can hear (unless the
    // visitor has moved on to something else on the page meanwhile).
    f.addEventListener('load', function () {
      loaded = true;
      if (isOpen() && document.activeElement === f) focusChat();
    });
    return f;
  }

  // Full screen on phones; a card over the bottom-right corner elsewhere.
  function layout() {
    if (mobile.matches) {
      css(panel, {
        top: '0', left: '0', right: '0', bottom: '0',
        width: '100%', height: '100%', borderRadius: '0',
      });
    } else {
      css(panel, {
        top: 'auto', left: 'auto', right: '20px', bottom: '84px',
        width: '380px', height: 'min(620px, calc(100% - 104px))', borderRadius: '12px',
      });
    }
  }

  // Focus the iframe, and ask the chat inside to put the focus on its message box.
  function focusChat() {
    iframe.focus();
    if (loaded) iframe.contentWindow.postMessage({ type: 'privacy-help:focus' }, origin);
  }

  function isOpen() {
    return !panel.hidden;
  }

  function open() {
    if (!iframe) {
      iframe = makeIframe();
      panel.insertBefore(iframe, closeButton); // the close button paints above it
    }
    layout();
    panel.hidden = false;
    panel.style.display = 'block';
    launcher.setAttribute('aria-expanded', 'true');
    focusChat();
  }

  function close() {
    if (!isOpen()) return;
    panel.hidden = true;
    panel.style.display = 'none';
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  }

  function onKeydown(event) {
    if (event.key === 'Escape' && isOpen()) close();
  }

  // Escape pressed inside the chat never reaches this page; the chat tells us instead.
  function onMessage(event) {
    if (event.origin !== origin || !iframe || event.source !== iframe.contentWindow) return;
    if (event.data && event.data.type === 'privacy-help:escape') close();
  }

  function start() {
    launcher = makeLauncher();
    panel = makePanel();
    document.body.appendChild(launcher);
    document.body.appendChild(panel);
    layout();
    if (mobile.addEventListener) mobile.addEventListener('change', layout);
    document.addEventListener('keydown', onKeydown);
    window.addEventListener('message', onMessage);
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
