/* mastermind dashboard: live regions and two small conveniences. No framework, no build step.

   A region marked data-live has data-src, a URL that returns its HTML, and either
   data-stream (Server-Sent Events: each `change` message means "fetch data-src again"; `end`
   means nothing more will change) or data-every (seconds between refreshes). Open or closed
   <details>, keyboard focus and text typed into the region survive a refresh. */
(function () {
  "use strict";

  function remember(region) {
    var state = { details: {}, values: {}, focus: null };
    region.querySelectorAll("details[id]").forEach(function (d) { state.details[d.id] = d.open; });
    region.querySelectorAll("textarea[id], input[id]:not([type=hidden])").forEach(function (f) {
      state.values[f.id] = f.value;
    });
    var active = document.activeElement;
    if (active && active !== region && region.contains(active)) {
      state.focus = active.id ? { id: active.id } : { href: active.getAttribute("href") };
    }
    return state;
  }

  function restore(region, state) {
    region.querySelectorAll("details[id]").forEach(function (d) {
      if (Object.prototype.hasOwnProperty.call(state.details, d.id)) d.open = state.details[d.id];
    });
    Object.keys(state.values).forEach(function (id) {
      var field = document.getElementById(id);
      if (field && region.contains(field) && state.values[id]) field.value = state.values[id];
    });
    if (!state.focus) return;
    var target = null;
    if (state.focus.id) {
      target = document.getElementById(state.focus.id);
    } else if (state.focus.href) {
      region.querySelectorAll("[href]").forEach(function (el) {
        if (!target && el.getAttribute("href") === state.focus.href) target = el;
      });
    }
    if (target && region.contains(target)) target.focus({ preventScroll: true });
  }

  // A fragment that took t ms to fetch is not fetched again for PAUSE * t ms (at least
  // MIN_GAP): a page watching a huge run costs the daemon a bounded share of its time.
  var PAUSE = 4;
  var MIN_GAP = 300;

  function live(region) {
    var src = region.getAttribute("data-src");
    var busy = false;
    var again = false;
    var notBefore = 0;

    function refresh() {
      if (busy) { again = true; return; }
      var wait = notBefore - Date.now();
      if (wait > 0) {
        busy = true;
        window.setTimeout(function () { busy = false; again = false; refresh(); }, wait);
        return;
      }
      busy = true;
      var started = Date.now();
      region.setAttribute("aria-busy", "true");
      fetch(src, { credentials: "same-origin", headers: { "X-Fragment": "1" } })
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null) return;
          var state = remember(region);
          region.innerHTML = html;
          restore(region, state);
          region.dispatchEvent(new CustomEvent("mastermind:updated", { bubbles: true }));
        })
        .catch(function () { /* offline for a moment: the next change or tick retries */ })
        .finally(function () {
          notBefore = Date.now() + Math.max(MIN_GAP, PAUSE * (Date.now() - started));
          busy = false;
          region.removeAttribute("aria-busy");
          if (again) { again = false; refresh(); }
        });
    }

    // A browser opens at most 6 connections to one host over HTTP/1.1, and a stream holds one
    // for good: a hidden tab gives its stream back (so a seventh tab still loads) and opens it
    // again when shown, catching up on what changed meanwhile.
    var stream = region.getAttribute("data-stream");
    if (stream && window.EventSource) {
      var source = null;
      var ended = false;
      var connect = function () {
        if (source || ended) return;
        source = new EventSource(stream);
        source.addEventListener("open", refresh); // catch up on what changed while away
        source.addEventListener("change", refresh);
        source.addEventListener("error", function () {
          // Closed for good (the session ended: 401, or the daemon answered with an error):
          // fetching the fragment signs in again on a 401; else try the stream again later.
          if (!source || source.readyState !== EventSource.CLOSED) return;
          source = null;
          refresh();
          window.setTimeout(function () {
            if (document.visibilityState !== "hidden") connect();
          }, 5000);
        });
        source.addEventListener("end", function () {
          ended = true;
          disconnect();
          refresh();
          document.querySelectorAll(".live-note").forEach(function (note) { note.hidden = true; });
        });
      };
      var disconnect = function () {
        if (source) { source.close(); source = null; }
      };
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "hidden") disconnect(); else connect();
      });
      if (document.visibilityState !== "hidden") connect();
    }
    var every = parseFloat(region.getAttribute("data-every") || "0");
    if (every > 0) window.setInterval(refresh, every * 1000);
  }

  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var element = id ? document.getElementById(id) : null;
    if (element && element.tagName === "DETAILS") element.open = true;
  }

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  window.addEventListener("hashchange", openTarget);
  document.querySelectorAll("[data-live]").forEach(live);
  openTarget();
})();
