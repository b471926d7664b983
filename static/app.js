// Latchkey dashboard script. Load it after htmx, both with `defer`:
//
//   <meta name="csrf-token" content="...">
//   <script src="/static/<hash>/vendor/htmx-x.y.z.min.js" defer></script>
//   <script src="/static/<hash>/app.js" defer></script>
//
// The Content-Security-Policy forbids inline scripts and styles, so nothing
// here relies on them and nothing here injects them.
(function () {
  "use strict";

  if (window.htmx) {
    // htmx would otherwise inject an inline <style> for .htmx-indicator
    // (blocked by CSP; app.css carries those rules) and evaluate hx-on and
    // js: expressions (blocked by CSP anyway; failing cleanly is better).
    htmx.config.includeIndicatorStyles = false;
    htmx.config.allowEval = false;
  }

  // Every htmx request carries the CSRF token from the page's <meta>, as the
  // X-CSRF-Token header that the server's CSRF middleware checks. Forms
  // without JavaScript send it as a hidden field instead.
  document.addEventListener("htmx:configRequest", function (evt) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) {
      evt.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });
})();
