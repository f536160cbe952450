/* eventsearch: the little JavaScript the pages use. Every page works without it; this adds
   suggestions as you type (the WAI-ARIA APG combobox, "list autocomplete with manual
   selection"), related events in place, sorting as soon as the order is chosen, and keeps
   keyboard focus where it was when htmx swaps the results. Events are delegated from the
   document, so content swapped in or restored from history needs no new listeners. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  /* --- Suggestions: https://www.w3.org/WAI/ARIA/apg/patterns/combobox/ --- */
  var suggestions = [];
  var active = -1;
  var inflight = null;

  function upgradeCombobox() {
    var input = document.getElementById("q");
    if (!input || input.getAttribute("role") === "combobox") return;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", "q-suggestions");
  }

  function listbox() { return document.getElementById("q-suggestions"); }

  function isCombobox(element) {
    return element instanceof HTMLInputElement && element.id === "q" && element.dataset.suggest;
  }

  function fetchSuggestions(input) {
    var text = input.value;
    if (inflight) inflight.abort();
    if (!text.trim()) { render(input, []); return; }
    inflight = new AbortController();
    fetch(input.dataset.suggest + "?size=8&q=" + encodeURIComponent(text), { signal: inflight.signal })
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (body) { if (input.value === text) render(input, body.suggestions); })
      .catch(function (error) { if (error.name !== "AbortError") render(input, []); });
  }

  function render(input, found) {
    var list = listbox();
    // An answer for the latest letters may arrive after an arrow key chose an option of
    // the previous one: the same suggestion stays active if it is still there.
    var chosen = active >= 0 ? suggestions[active] : null;
    suggestions = found;
    active = -1;
    list.replaceChildren.apply(list, found.map(function (suggestion, i) {
      var option = document.createElement("li");
      option.id = "q-option-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      var text = document.createElement("span");
      text.textContent = suggestion.text;
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = (suggestion.kind === "term" ? "words" : suggestion.type || suggestion.kind) +
        " · " + suggestion.count.toLocaleString("en") + (suggestion.count === 1 ? " event" : " events");
      option.append(text, kind);
      return option;
    }));
    setOpen(input, found.length > 0);
    var again = chosen ? found.findIndex(function (suggestion) {
      return suggestion.text === chosen.text && suggestion.kind === chosen.kind;
    }) : -1;
    if (again >= 0) activate(input, again);
  }

  function setOpen(input, open) {
    listbox().hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    if (!open) {
      active = -1;
      input.removeAttribute("aria-activedescendant");
      // Closed (Escape, Enter, leaving the box): an answer still on its way must not reopen it.
      if (inflight) inflight.abort();
    }
  }

  function move(input, step) {
    var next = active + step;
    activate(input, next >= suggestions.length ? 0 : next < 0 ? suggestions.length - 1 : next);
  }

  function activate(input, index) {
    setOpen(input, true);
    active = index;
    listbox().querySelectorAll("[role=option]").forEach(function (option, i) {
      option.setAttribute("aria-selected", String(i === active));
    });
    var option = document.getElementById("q-option-" + active);
    input.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  }

  /* A name (entity, story, country) becomes a filter; a word completes the text. */
  function accept(input, suggestion) {
    var form = input.form;
    setOpen(input, false);
    if (suggestion.filter) {
      var name = Object.keys(suggestion.filter)[0];
      var value = suggestion.filter[name];
      var state = form.querySelector("#search-state");
      var chosen = Array.prototype.some.call(state.querySelectorAll("input"), function (hidden) {
        return hidden.name === name && hidden.value === value;
      });
      if (!chosen) {
        var hidden = document.createElement("input");
        hidden.type = "hidden";
        hidden.name = name;
        hidden.value = value;
        state.append(hidden);
      }
      input.value = "";
    } else {
      input.value = suggestion.text;
    }
    form.requestSubmit();
  }

  document.addEventListener("input", function (event) {
    if (isCombobox(event.target)) fetchSuggestions(event.target);
  });

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!isCombobox(input)) return;
    var open = input.getAttribute("aria-expanded") === "true";
    if (event.key === "ArrowDown") {
      event.preventDefault();
      if (!suggestions.length) fetchSuggestions(input);
      else if (event.altKey) setOpen(input, true);
      else move(input, 1);
    } else if (event.key === "ArrowUp" && open) {
      event.preventDefault();
      move(input, -1);
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault();
      accept(input, suggestions[active]);
    } else if (event.key === "Enter") {
      setOpen(input, false);
    } else if (event.key === "Escape") {
      event.preventDefault();
      if (open) setOpen(input, false);
      else { input.value = ""; render(input, []); }
    }
  });

  document.addEventListener("focusout", function (event) {
    if (isCombobox(event.target)) setOpen(event.target, false);
  });

  // A press on an option must not take the focus from the text box.
  document.addEventListener("mousedown", function (event) {
    if (event.target.closest(".suggestions")) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var option = event.target.closest(".suggestions [role=option]");
    if (option) accept(document.getElementById("q"), suggestions[Number(option.id.slice(9))]);
  });

  /* --- Related events, expanded in place under a result --- */
  function upgradeRelated(root) {
    root.querySelectorAll("a.related-toggle:not([role])").forEach(function (link) {
      link.setAttribute("role", "button");
      link.setAttribute("aria-expanded", "false");
    });
  }

  // The fragment lives beside the event's page: /news/.../<slug>/related.
  document.addEventListener("click", function (event) {
    var trigger = event.target.closest("a.related-toggle");
    if (!trigger) return;
    event.preventDefault();
    var panel = document.getElementById(trigger.getAttribute("aria-controls"));
    var expanded = trigger.getAttribute("aria-expanded") === "true";
    trigger.setAttribute("aria-expanded", String(!expanded));
    panel.hidden = expanded;
    if (!expanded && !panel.dataset.loaded) {
      panel.dataset.loaded = "true";
      panel.setAttribute("aria-busy", "true");
      htmx.ajax("GET", trigger.pathname + "/related", { target: panel, swap: "innerHTML" })
        .then(function () { panel.removeAttribute("aria-busy"); });
    }
  });

  document.addEventListener("keydown", function (event) {
    // A link acting as a button answers the space bar too.
    if (event.key === " " && event.target.matches("a.related-toggle[role=button]")) {
      event.preventDefault();
      event.target.click();
    }
  });

  /* --- Sort as soon as an order is chosen; close the narrow screens' filter drawer --- */
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-close]");
    var drawer = link && document.getElementById(link.dataset.close);
    if (drawer) drawer.open = false;
  });

  /* --- Keep the keyboard focus across a swap of the results --- */
  var focusKey = null;

  document.addEventListener("htmx:beforeRequest", function () {
    var focused = document.activeElement;
    focusKey = focused && focused !== document.body ? focused.dataset.key || focused.id || null : null;
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!focusKey || document.activeElement !== document.body) return;
    var again = document.querySelector('[data-key="' + CSS.escape(focusKey) + '"]') ||
      document.getElementById(focusKey) || document.getElementById("hits-heading");
    if (again) again.focus();
    focusKey = null;
  });

  document.addEventListener("htmx:beforeHistorySave", function () {
    var input = document.getElementById("q");
    if (input && input.getAttribute("role") === "combobox") setOpen(input, false);
  });

  function upgrade(root) {
    upgradeCombobox();
    upgradeRelated(root);
  }

  document.addEventListener("htmx:load", function (event) { upgrade(event.target); });
  document.addEventListener("htmx:historyRestore", function () { upgrade(document); });
  upgrade(document);
})();
