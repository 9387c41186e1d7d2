// Small progressive enhancements. No inline scripts anywhere (CSP script-src 'self').
(function () {
  "use strict";

  // Copy buttons: <button data-copy-target="element-id">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var done = function () {
      button.textContent = "Copied";
      announce("Secret copied to the clipboard");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text.trim()).then(done, function () { selectText(source); });
    } else {
      selectText(source);
      try { document.execCommand("copy"); done(); } catch (e) { /* selection left for the user */ }
    }
  });

  function selectText(el) {
    if (el.select) { el.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function announce(message) {
    var region = document.getElementById("live-region");
    if (region) { region.textContent = ""; region.textContent = message; }
  }

  // Remember what had focus inside the region about to be swapped, to put it back afterwards.
  var swappedFocus = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    var target = event.detail.target;
    swappedFocus = null;
    if (active && active !== document.body && target && target.contains(active)) {
      swappedFocus = { tag: active.tagName, text: (active.textContent || "").trim() };
    }
  });

  function focusLost() {
    var active = document.activeElement;
    return !active || active === document.body || !active.isConnected;
  }

  function focusRegion(el) {
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus();
  }

  // After an htmx swap: announce what changed and keep focus sensible. For outerHTML swaps the
  // old target is detached, so the new element is found by id or is the event's own target.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && !target.isConnected) {
      target = (target.id && document.getElementById(target.id)) || event.target;
    }
    if (!target || !target.isConnected || !target.querySelector) return;
    var label = target.getAttribute("data-announce");
    if (label) announce(label);
    var focusTarget = target.querySelector("[data-autofocus]");
    if (focusTarget) { focusTarget.focus(); return; }
    if (!focusLost()) return;
    var invalid = target.querySelector("[aria-invalid='true']");
    if (invalid) { invalid.focus(); return; }
    if (swappedFocus) {
      var same = Array.prototype.find.call(target.querySelectorAll(swappedFocus.tag), function (el) {
        return (el.textContent || "").trim() === swappedFocus.text;
      });
      if (same) { same.focus(); return; }
    }
    focusRegion(target);
  });

  // Custom date range fields only matter for the "custom" preset.
  document.addEventListener("change", function (event) {
    if (event.target.name !== "preset") return;
    var form = event.target.form;
    if (!form) return;
    var custom = event.target.value === "custom";
    form.querySelectorAll("[data-custom-range]").forEach(function (el) { el.hidden = !custom; });
  });
})();

// usage: after the results region is swapped, keep the custom-range inputs on the range shown,
// so switching the period to "Custom" starts from what is on screen.
document.addEventListener("htmx:afterSwap", function (event) {
  var results = document.getElementById("usage-results");
  var form = document.getElementById("usage-filters");
  if (!results || !form || !results.dataset.startDate) return;
  var start = form.querySelector("[name=start_date]");
  var end = form.querySelector("[name=end_date]");
  if (start) start.value = results.dataset.startDate;
  if (end) end.value = results.dataset.endDate;
});

// keys / admin: the revoke confirmation as a modal <dialog>. A Revoke link loads the confirmation
// into the dialog's body (htmx); the dialog then opens, Tab stays inside it, Escape or Cancel
// closes it, and focus goes back to the link (or to the key list once the key was revoked).
// Without JavaScript the link simply opens the confirmation page.
(function () {
  "use strict";
  var opener = null;

  function focusables(dialog) {
    return Array.prototype.filter.call(
      dialog.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (el) { return el.offsetParent !== null || el === document.activeElement; }
    );
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-opens-dialog")) opener = elt;
  });

  // Cancel inside the dialog only closes it; on the confirmation page it stays a link.
  document.addEventListener("click", function (event) {
    var cancel = event.target.closest("dialog[open] [data-dialog-close]");
    if (!cancel) return;
    event.preventDefault();
    cancel.closest("dialog").close();
  });

  // After settling, not swapping: htmx wires up the new form only then, so a confirmation sent
  // at once still goes through htmx.
  document.addEventListener("htmx:afterSettle", function (event) {
    var body = event.detail.target;
    if (!body || !body.closest) return;
    var dialog = body.closest("dialog");
    if (!dialog) return;
    if (!dialog.open) dialog.showModal();
    var first = dialog.querySelector("[data-autofocus]") || focusables(dialog)[0];
    if (first) first.focus();
  });

  // The confirmed revoke swaps the key list: the dialog has done its job.
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    var dialog = elt && elt.closest && elt.closest("dialog[open]");
    if (dialog && event.detail.requestConfig && event.detail.requestConfig.verb === "post") {
      dialog.close();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var dialog = document.querySelector("dialog[open]");
    if (!dialog) return;
    var items = focusables(dialog);
    if (!items.length) { event.preventDefault(); return; }
    var first = items[0], last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault(); last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault(); first.focus();
    }
  });

  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!dialog || dialog.tagName !== "DIALOG") return;
    var body = dialog.querySelector("#revoke-dialog-body");
    if (body) body.innerHTML = "";
    var back = opener;
    opener = null;
    // After the browser's own focus restoring and any pending swap of the key list.
    setTimeout(function () {
      if (back && back.isConnected) { back.focus(); return; }
      var list = document.querySelector("[data-announce].key-list");
      if (list) { if (!list.hasAttribute("tabindex")) list.setAttribute("tabindex", "-1"); list.focus(); }
    }, 0);
  }, true);
})();
