// Small progressive enhancements. No inline scripts anywhere (CSP script-src 'self').
(function () {
  "use strict";

  // A page that shows a new secret (a rotation or creation answered as a whole page) starts on
  // its Copy button, as the htmx answers do. Deferred scripts run before DOMContentLoaded.
  // Answered to a plain POST, the page also takes the address it names, so a reload asks for
  // that page instead of posting the form again (the secret is never in a URL or a session).
  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("new-key-panel");
    if (!panel) return;
    var copy = panel.querySelector("[data-autofocus]");
    if (copy) copy.focus();
    if (panel.dataset.replaceUrl) history.replaceState(null, "", panel.dataset.replaceUrl);
  });

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

})();

// usage: a custom range is applied when the user says so, not on every keystroke. htmx submits
// the filters form on "change"; a date field's changes are kept from it (typing a year sends
// 0002, 0020, 0202 before 2025) and the range is applied on Enter or the button (a real submit),
// or when focus leaves the two date fields with both dates complete and plausible.
(function () {
  "use strict";

  function usageForm(el) {
    return el && el.form && el.form.hasAttribute("data-usage-filters") ? el.form : null;
  }
  function isDate(el) { return el.name === "start_date" || el.name === "end_date"; }
  function plausible(value) { return /^\d{4}-\d{2}-\d{2}$/.test(value) && value >= "2000-01-01"; }
  function rangeReady(form) {
    var start = form.elements.start_date.value, end = form.elements.end_date.value;
    return plausible(start) && plausible(end) && start <= end;
  }

  var pending = null; // the form whose typed range is not applied yet

  function showCustom(form, custom) {
    form.querySelectorAll("[data-custom-range]").forEach(function (el) {
      el.hidden = !custom;
      el.querySelectorAll("input").forEach(function (input) { input.disabled = !custom; });
    });
  }

  // A select changed with the arrow keys (or type-ahead) while closed fires "change" on every
  // step: those steps are held, and the choice applies on Enter or when focus leaves it, so
  // arrowing from Today to Year to date sends one request and makes one history entry.
  var STEP_KEYS = ["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"];
  document.addEventListener("keydown", function (event) {
    var field = event.target, form = usageForm(field);
    if (!form || field.tagName !== "SELECT") return;
    if (event.key === "Enter" && field.dataset.heldChange) {
      event.preventDefault();
      delete field.dataset.heldChange;
      applyHeld(form, field);
    } else if (STEP_KEYS.indexOf(event.key) >= 0 || event.key.length === 1) {
      field.dataset.keyboardStep = "1";
    }
  }, true);
  document.addEventListener("pointerdown", function (event) {
    if (event.target.tagName === "SELECT") delete event.target.dataset.keyboardStep;
  }, true);
  document.addEventListener("focusout", function (event) {
    var field = event.target, form = usageForm(field);
    if (!form || field.tagName !== "SELECT" || !field.dataset.heldChange) return;
    delete field.dataset.heldChange;
    applyHeld(form, field);
  }, true);

  function applyHeld(form, field) {
    // The committed choice goes out as the one "change" htmx sees (the form's, or the
    // field's own hx-trigger, such as the admin's user select reloading the key list).
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("change", function (event) {
    var field = event.target, form = usageForm(field);
    if (!form) return;
    if (field.tagName === "SELECT" && field.dataset.keyboardStep) {
      delete field.dataset.keyboardStep;
      field.dataset.heldChange = "1";
      event.stopPropagation(); // htmx does not see this step
      if (field.name === "preset") showCustom(form, field.value === "custom");
      return;
    }
    if (isDate(field)) {
      event.stopPropagation();
      pending = form;
    } else if (field.name === "preset") {
      var custom = field.value === "custom";
      showCustom(form, custom);
      if (!custom) return;
      // Custom starts from the range on screen and waits for the user's dates.
      event.stopPropagation();
      var results = document.querySelector(".usage-results[data-start-date]");
      if (results) {
        form.elements.start_date.value = results.dataset.startDate;
        form.elements.end_date.value = results.dataset.endDate;
      }
      form.elements.start_date.focus();
    }
  }, true);

  document.addEventListener("submit", function (event) {
    if (event.target === pending) pending = null;
  }, true);

  document.addEventListener("focusout", function (event) {
    var field = event.target, form = usageForm(field);
    if (!form || form !== pending || !isDate(field)) return;
    var next = event.relatedTarget;
    if (next && next.form === form && (isDate(next) || next.type === "submit")) return;
    if (rangeReady(form)) { pending = null; form.requestSubmit(); }
  });

  // Chart tooltips show on hover and focus by CSS alone; SVG paints later bars over earlier
  // ones, so the shown tooltip is lifted to the end of its chart and put back afterwards.
  var lifted = null;
  function lower() {
    if (!lifted) return;
    lifted.tip.classList.remove("tip-lifted");
    if (lifted.home.isConnected) lifted.home.appendChild(lifted.tip); else lifted.tip.remove();
    lifted = null;
  }
  function lift(event) {
    var slot = event.target.closest && event.target.closest(".chart .slot");
    if (!slot || (lifted && lifted.home === slot) || slot.classList.contains("tip-dismissed")) return;
    lower();
    var tip = slot.querySelector(".tip");
    if (!tip) return;
    lifted = { tip: tip, home: slot };
    tip.classList.add("tip-lifted");
    slot.ownerSVGElement.appendChild(tip);
  }
  function leave(event) {
    if (!lifted) return;
    var to = event.relatedTarget;
    if (to && lifted.home.contains(to)) return;
    if (event.type === "mouseout" && lifted.home === document.activeElement) return;
    lower();
  }
  document.addEventListener("mouseover", lift);
  document.addEventListener("focusin", lift);
  document.addEventListener("mouseout", leave);
  document.addEventListener("focusout", leave);
  document.addEventListener("htmx:beforeSwap", lower);

  // One tab stop per chart, arrow keys between its bars (a year of weeks is 53 of them).
  function rove(root) {
    root.querySelectorAll(".chart-svg").forEach(function (svg) {
      svg.querySelectorAll(".slot").forEach(function (slot, index) {
        slot.setAttribute("tabindex", index === 0 ? "0" : "-1");
      });
    });
  }
  rove(document);
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.querySelectorAll) rove(target);
  });
  // A shown tooltip can be dismissed without moving: Escape hides it until the bar loses focus
  // (or the pointer leaves it), and a tap outside the chart's bars (a phone has no "mouse out")
  // takes the focus off the bar, which hides it.
  function dismiss(slot) {
    slot.classList.add("tip-dismissed");
    if (lifted && lifted.home === slot) lower();
  }
  function undismiss(event) {
    var slot = event.target.closest && event.target.closest(".chart .slot");
    if (slot && !slot.contains(event.relatedTarget)) slot.classList.remove("tip-dismissed");
  }
  document.addEventListener("focusout", undismiss);
  document.addEventListener("mouseout", undismiss);
  document.addEventListener("pointerdown", function (event) {
    var focused = document.activeElement;
    if (!focused || !focused.closest || !focused.closest(".chart .slot")) return;
    if (!(event.target.closest && event.target.closest(".chart .slot"))) focused.blur();
  });

  var STEPS = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
  document.addEventListener("keydown", function (event) {
    var slot = event.target.closest && event.target.closest(".chart .slot");
    if (event.key === "Escape") {
      var shown = slot || document.querySelector(".chart .slot:hover");
      if (shown) dismiss(shown);
      return;
    }
    if (!slot) return;
    var slots = Array.prototype.slice.call(slot.ownerSVGElement.querySelectorAll(".slot"));
    var index = slots.indexOf(slot), next = null;
    if (event.key in STEPS) next = slots[index + STEPS[event.key]];
    else if (event.key === "Home") next = slots[0];
    else if (event.key === "End") next = slots[slots.length - 1];
    if (!next) return;
    event.preventDefault();
    slot.setAttribute("tabindex", "-1");
    next.setAttribute("tabindex", "0");
    next.focus();
  });
})();

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
