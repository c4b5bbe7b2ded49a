// dingfluence browser glue, loaded after htmx. It is a file and not an inline
// <script> because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  if (window.htmx) {
    // htmx would inject a <style> for .htmx-indicator, which a CSP without
    // 'unsafe-inline' styles blocks; app.css has those rules instead.
    // (Set here, before DOMContentLoaded, i.e. before htmx reads its config.)
    htmx.config.includeIndicatorStyles = false;
    // No eval-based features (hx-on, js: values): the CSP forbids eval.
    htmx.config.allowEval = false;
  }

  // AUI's sidebar names its collapse toggle with AUI's own English words; the
  // page carries them in the reader's language on the sidebar, so the tooltip
  // speaks that language too. (Read before DOMContentLoaded, when AUI builds
  // the sidebar.)
  (function () {
    if (!window.AJS || !AJS.I18n || !AJS.I18n.keys) {
      return;
    }
    document.addEventListener("DOMContentLoaded", function () {
      var sidebar = document.getElementById("admin-sidebar");
      if (!sidebar) {
        return;
      }
      AJS.I18n.keys["aui.sidebar.collapse.tooltip"] = sidebar.getAttribute("data-collapse-label");
      AJS.I18n.keys["aui.sidebar.expand.tooltip"] = sidebar.getAttribute("data-expand-label");
    });
  })();

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Send the CSRF token with every state-changing htmx request. The meta tag
  // is read each time, so a page swapped in by hx-boost brings its own token.
  document.addEventListener("htmx:configRequest", function (evt) {
    var verb = String(evt.detail.verb || "get").toUpperCase();
    if (verb === "GET" || verb === "HEAD" || verb === "OPTIONS") {
      return;
    }
    var token = csrfToken();
    if (token) {
      evt.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // AUI's web components (dropdowns, progress bars, <aui-tabs>) set
  // themselves up when htmx swaps them in, but class-based tabs
  // (div.aui-tabs) are only wired up once on DOM ready: redo that for swapped
  // content. Dropping the old resize handler first stops setup() from adding
  // one more per swap; initialising a tab group twice is a no-op in AUI.
  document.addEventListener("htmx:load", function (evt) {
    var elt = evt.detail && evt.detail.elt;
    if (!elt || !elt.querySelector || !window.AJS || !AJS.tabs || !window.jQuery) {
      return;
    }
    if ((elt.matches && elt.matches(".aui-tabs")) || elt.querySelector(".aui-tabs")) {
      jQuery(window).off("resize.aui-tabs");
      AJS.tabs.setup();
    }
  });

  // Copy buttons (the redirect URL of the Confluence screen): copy the target input's
  // value and say so on the button. The clipboard API needs a secure context; where it
  // is missing the value is selected and copied the old way.
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-copy-target]");
    if (!button) {
      return;
    }
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    if (!input) {
      return;
    }
    var done = function () {
      if (!button.hasAttribute("data-label")) {
        button.setAttribute("data-label", button.textContent);
      }
      button.textContent = button.getAttribute("data-copied") || button.textContent;
      setTimeout(function () { button.textContent = button.getAttribute("data-label"); }, 2000);
    };
    var fallback = function () {
      input.select();
      try {
        document.execCommand("copy");
      } catch (e) {
        return;
      }
      done();
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  });

  // Department tree: the first click on a department's toggle loads its
  // children (hx-get, once); later clicks fold and unfold them. A toggle drawn
  // open by the server (aria-expanded="true") has its children already.
  document.addEventListener("click", function (evt) {
    var toggle = evt.target.closest && evt.target.closest(".df-expand");
    if (!toggle) {
      return;
    }
    var children = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!children) {
      return;
    }
    if (toggle.getAttribute("aria-expanded") === null) {
      toggle.setAttribute("aria-expanded", "true"); // htmx loads them now
      children.hidden = false;
      return;
    }
    children.hidden = !children.hidden;
    toggle.setAttribute("aria-expanded", String(!children.hidden));
  });

  // A sync that ended (the server's HX-Trigger "sync-finished" names its
  // department) redraws that department's row, with its new name and counts,
  // and its open sub-departments, keeping open what is open.
  document.addEventListener("sync-finished", function (evt) {
    var dept = evt.detail && evt.detail.dept;
    var row = dept && document.getElementById("dept-row-" + dept);
    if (!row || !window.htmx) {
      return;
    }
    var open = [];
    var node = document.getElementById("dept-" + dept);
    var toggles = node ? node.querySelectorAll('.df-expand[aria-expanded="true"]') : [];
    for (var i = 0; i < toggles.length; i++) {
      open.push(toggles[i].getAttribute("data-dept-id"));
    }
    row.setAttribute("data-df-redraw", "");
    htmx.ajax("GET", "/admin/dingtalk/departments/" + encodeURIComponent(dept) + "/row?open=" + open.join(","),
      { target: row, swap: "outerHTML" });
  });

  // Before a department's rows are drawn again, drop their actions menus
  // (wherever AUI has put them): htmx would otherwise give the new menus, of
  // the same ids, the old ones' attributes while it settles, and undo AUI's
  // set-up of them.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (!evt.detail.shouldSwap || !target || !target.hasAttribute || !target.hasAttribute("data-df-redraw")) {
      return;
    }
    var redrawn = {};
    var node = target.closest("li[data-dept-id]");
    var below = node ? node.querySelectorAll("li[data-dept-id]") : [];
    redrawn[target.id.replace("dept-row-", "")] = true;
    for (var i = 0; i < below.length; i++) {
      redrawn[below[i].getAttribute("data-dept-id")] = true;
    }
    var menus = document.querySelectorAll("aui-dropdown-menu[data-dept-id]");
    for (var j = 0; j < menus.length; j++) {
      if (redrawn[menus[j].getAttribute("data-dept-id")]) {
        menus[j].remove();
      }
    }
  });

  // A sync already running when pressed elsewhere is drawn on the row pressed,
  // and one listed above the tree on its row once that is expanded: drop the
  // other copy, so one panel polls per run.
  document.addEventListener("htmx:load", function (evt) {
    var elt = evt.detail && evt.detail.elt;
    if (!elt || !elt.querySelectorAll) {
      return;
    }
    var panels = Array.prototype.slice.call(elt.querySelectorAll(".df-sync-run[data-run-id]"));
    if (elt.matches && elt.matches(".df-sync-run[data-run-id]")) {
      panels.push(elt);
    }
    panels.forEach(function (panel) {
      var copies = document.querySelectorAll('.df-sync-run[data-run-id="' + panel.getAttribute("data-run-id") + '"]');
      for (var i = 0; i < copies.length; i++) {
        if (copies[i] !== panel) {
          copies[i].remove();
        }
      }
    });
  });

  // AUI opens a dropdown on Enter's keydown, and the click that Enter's
  // keypress then makes on a <button> trigger closes it again at once.
  // Suppressing that keypress leaves AUI's keyboard handling as documented:
  // Enter or Space opens, arrows move, Esc closes and focus returns.
  document.addEventListener("keypress", function (evt) {
    var t = evt.target;
    if (evt.key === "Enter" && t && t.matches && t.matches("button.aui-dropdown2-trigger")) {
      evt.preventDefault();
    }
  }, true);

  // Profile → DingTalk: a field marked data-df-show-for-method (the mobile
  // number) is shown only while its method is chosen, unless it has an error
  // to show. Without JavaScript the server always renders it.
  function syncMethodFields() {
    var select = document.getElementById("matchingMethod");
    if (!select || select.tagName !== "SELECT") {
      return;
    }
    var fields = document.querySelectorAll("[data-df-show-for-method]");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      f.hidden = f.getAttribute("data-df-show-for-method") !== select.value && !f.querySelector(".error");
    }
  }
  document.addEventListener("change", function (evt) {
    if (evt.target && evt.target.id === "matchingMethod") {
      syncMethodFields();
    }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", syncMethodFields);
  } else {
    syncMethodFields();
  }

  // A form with data-confirm asks first (Regenerate of the webhook secret: the old
  // secret stops working at once). Without JavaScript the warning beside the button
  // says the same.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      evt.preventDefault();
    }
  });
})();
