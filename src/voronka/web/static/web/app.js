/* Voronka UI glue (no inline scripts: CSP allows only 'self').
   - CSRF header on every htmx and fetch request (token from <meta name="csrf-token">)
   - small behaviours: auto-submitting selects, confirm before delete, repeatable input rows
   - live counters: the navigation polls /counters/ and each badge goes to its slot
   - the kanban: SortableJS drag → POST /deals/<id>/move/ with the deal's version; the server
     answers with the fresh card (200), the required-fields form (422, shown in a modal), or a
     refusal (409 conflict / 4xx) — then the card goes back and the message is shown
   - the deal card's stage bar uses the same move endpoint and modal
   - settings: see web/settings.js (one form for every stage row) */
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const lang = document.documentElement.lang === "en" ? "en-US" : "ru-RU";
  // Amounts as the server writes them (web/templatetags/voronka.py money): 1 500 000,50 ₽;
  // in whole kopecks/cents, so sums stay exact.
  const SIGNS = { RUB: "₽", USD: "$", EUR: "€", CNY: "¥", KZT: "₸", BYN: "Br" }; // = CURRENCY_SIGNS
  const MAIN_CURRENCY = "RUB"; // kernel/money.py
  const cents = (text) => Math.round(parseFloat(text || "0") * 100) || 0;
  const money = (value, currency = MAIN_CURRENCY) => {
    const abs = Math.abs(value);
    const whole = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
    const kop = abs % 100 ? `,${String(abs % 100).padStart(2, "0")}` : "";
    return `${value < 0 ? "−" : ""}${whole}${kop}\u00a0${SIGNS[currency] || currency}`;
  };
  // Sums per currency, never added together: the markup of the money_sums template filter.
  function renderSums(el, sums) {
    const items = Object.entries(sums).filter(([, v]) => v !== 0).sort(([a], [b]) =>
      (a === MAIN_CURRENCY ? -1 : b === MAIN_CURRENCY ? 1 : a.localeCompare(b)));
    if (!items.length) items.push([MAIN_CURRENCY, 0]);
    const box = document.createElement("span");
    box.className = "money-sums";
    items.forEach(([currency, value], i) => {
      const part = document.createElement("span");
      part.className = i ? "money-other" : "money-main";
      part.textContent = (i ? "· " : "") + money(value, currency);
      if (i) box.append(" ");
      box.append(part);
    });
    el.replaceChildren(box);
  }
  const onReady = (fn) => (document.readyState !== "loading" ? fn() : document.addEventListener("DOMContentLoaded", fn));

  document.addEventListener("htmx:configRequest", (e) => {
    e.detail.headers["X-CSRFToken"] = csrf();
    // Filters: leave empty fields out of the (pushed) address, as a plain form would not.
    if (e.detail.verb === "get") {
      Object.keys(e.detail.parameters).forEach((k) => { if (e.detail.parameters[k] === "") delete e.detail.parameters[k]; });
    }
  });

  // --- small behaviours -----------------------------------------------------------------------
  document.addEventListener("change", (e) => {
    if (e.target.matches("[data-autosubmit]")) e.target.form.requestSubmit();
  });
  document.addEventListener("submit", (e) => {
    const msg = e.target.dataset?.confirm;
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);
  document.addEventListener("click", (e) => {
    const add = e.target.closest("[data-repeat-add]");
    if (add) {
      e.preventDefault();
      const box = document.getElementById(add.dataset.repeatAdd);
      const tpl = box.querySelector("template");
      const row = tpl.content.firstElementChild.cloneNode(true);
      box.insertBefore(row, tpl);
      row.querySelector("input")?.focus();
      return;
    }
    const remove = e.target.closest("[data-repeat-remove]");
    if (remove) {
      e.preventDefault();
      const row = remove.closest(".repeat-row");
      const box = row.parentElement;
      // Keep one (empty) row so the field stays visible.
      if (box.querySelectorAll(".repeat-row").length > 1) row.remove();
      else row.querySelectorAll("input").forEach((i) => { i.value = ""; });
      return;
    }
    if (e.target.closest("[data-modal-close]")) { e.preventDefault(); closeModal(true); }
  });

  // --- live counters ---------------------------------------------------------------------------
  document.addEventListener("htmx:afterSwap", (e) => {
    if (e.target.id === "counters-slot") {
      e.target.querySelectorAll("template[data-badge]").forEach((tpl) => {
        document.querySelectorAll(`[data-badge-slot="${tpl.dataset.badge}"]`).forEach((slot) => { slot.innerHTML = tpl.innerHTML; });
      });
    }
  });

  // --- toasts ----------------------------------------------------------------------------------
  function toast(text, kind) {
    let stack = document.querySelector(".toast-stack");
    if (!stack) { stack = document.createElement("div"); stack.className = "toast-stack"; document.body.appendChild(stack); }
    const div = document.createElement("div");
    div.className = `alert alert--${kind || "error"}`;
    div.setAttribute("role", "alert");
    div.textContent = text;
    stack.appendChild(div);
    setTimeout(() => div.remove(), 9000);
  }

  // --- modal -----------------------------------------------------------------------------------
  let moveContext = null; // {kind: "board", card, revert} | {kind: "card"}
  function openModal(html) {
    const dlg = document.getElementById("modal");
    document.getElementById("modal-body").innerHTML = html;
    if (!dlg.open) dlg.showModal();
    if (window.htmx) window.htmx.process(dlg);
    dlg.querySelector("input:not([type=hidden]), select, textarea")?.focus();
  }
  function closeModal(revert) {
    const dlg = document.getElementById("modal");
    if (dlg?.open) dlg.close();
    if (revert && moveContext?.revert) moveContext.revert();
    moveContext = null;
  }
  document.addEventListener("cancel", (e) => { if (e.target.id === "modal") { e.preventDefault(); closeModal(true); } }, true);

  async function post(url, body) {
    try {
      const resp = await fetch(url, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf(), "HX-Request": "true", Accept: "text/html" },
      });
      return { status: resp.status, text: await resp.text(), redirect: resp.headers.get("HX-Redirect") };
    } catch (err) {
      return { status: 0, text: "", redirect: null };
    }
  }
  const parse = (html) => { const t = document.createElement("template"); t.innerHTML = html.trim(); return t.content; };
  const offline = () => (lang === "en-US" ? "No connection to the server — try again." : "Нет связи с сервером — повторите.");

  // Forms inside the modal post with fetch and keep the modal open until the move succeeds.
  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!form.closest("#modal") || !form.matches("[data-move-form]")) return;
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    handleMoveResult(await post(form.action, new FormData(form)));
    if (button) button.disabled = false;
  });

  function handleMoveResult(result) {
    const ctx = moveContext || {};
    if (result.redirect) { window.location.href = result.redirect; return; }
    if (result.status === 200) {
      if (ctx.kind === "board" && ctx.card) {
        const fresh = parse(result.text).querySelector(".deal-card");
        if (fresh) { ctx.card.replaceWith(fresh); flash(fresh); }
        moveContext = null; closeModal(false); recount();
      } else {
        moveContext = null; closeModal(false); window.location.reload();
      }
      return;
    }
    if (result.status === 422 && result.text.includes("data-move-form")) { openModal(result.text); return; }
    // Refused: put the card back, say why; on a version conflict show the fresh card.
    const doc = parse(result.text || "");
    const message = doc.querySelector("[data-message]")?.textContent?.trim() || (result.status ? `HTTP ${result.status}` : offline());
    closeModal(true);
    toast(message, result.status === 409 ? "warning" : "error");
    const freshTpl = doc.querySelector("template[data-fresh-card]");
    if (ctx.kind === "board" && ctx.card && freshTpl) {
      const fresh = freshTpl.content.querySelector(".deal-card");
      const column = document.querySelector(`.column-body[data-stage-id="${fresh?.dataset.stageId}"]`);
      if (fresh) {
        ctx.card.remove();
        if (column) { column.prepend(fresh); flash(fresh); }
        recount();
      }
    } else if (ctx.kind === "card" && result.status === 409) {
      setTimeout(() => window.location.reload(), 1800);
    }
  }

  function flash(el) { el.classList.add("is-flash"); setTimeout(() => el.classList.remove("is-flash"), 1300); }

  // Column counters follow the cards on screen (plus those not loaded yet).
  function recount() {
    document.querySelectorAll(".column").forEach((col) => {
      const cards = col.querySelectorAll(".deal-card");
      const sums = {};
      let hidden = {};
      try { hidden = JSON.parse(col.dataset.hiddenSums || "{}"); } catch (err) { hidden = {}; }
      Object.entries(hidden).forEach(([currency, text]) => { sums[currency] = cents(text); });
      cards.forEach((c) => {
        const currency = c.dataset.currency || MAIN_CURRENCY;
        sums[currency] = (sums[currency] || 0) + cents(c.dataset.amount);
      });
      const count = col.querySelector("[data-count]");
      if (count) count.textContent = cards.length + parseInt(col.dataset.hidden || "0", 10);
      const total = col.querySelector("[data-sum]");
      if (total) renderSums(total, sums);
      const empty = col.querySelector(".column-empty");
      if (empty) empty.hidden = cards.length > 0;
    });
  }

  // "Show more" brings cards the column counted as not loaded: take them out of its hidden
  // count and sums (per currency), or the next recount would count them twice.
  document.addEventListener("htmx:beforeSwap", (e) => {
    const target = e.detail.target;
    const col = target?.classList?.contains("load-more") ? target.closest(".column") : null;
    if (!col || e.detail.xhr.status !== 200 || e.detail.shouldSwap === false) return;
    let hidden = {};
    try { hidden = JSON.parse(col.dataset.hiddenSums || "{}"); } catch (err) { hidden = {}; }
    let count = parseInt(col.dataset.hidden || "0", 10);
    parse(String(e.detail.serverResponse || "")).querySelectorAll(".deal-card").forEach((c) => {
      const currency = c.dataset.currency || MAIN_CURRENCY;
      hidden[currency] = ((cents(hidden[currency]) - cents(c.dataset.amount)) / 100).toFixed(2);
      count -= 1;
    });
    col.dataset.hiddenSums = JSON.stringify(hidden);
    col.dataset.hidden = String(Math.max(0, count));
  });

  // --- kanban ----------------------------------------------------------------------------------
  function initBoard(root) {
    if (!window.Sortable) return;
    root.querySelectorAll(".column-body[data-stage-id]").forEach((body) => {
      if (body.dataset.sortable) return;
      body.dataset.sortable = "1";
      window.Sortable.create(body, {
        group: "board", animation: 150, draggable: ".deal-card", filter: ".load-more, .column-empty",
        preventOnFilter: false, ghostClass: "sortable-ghost", dragClass: "sortable-drag", forceFallback: false,
        onEnd: async (evt) => {
          if (evt.from === evt.to) return;
          const card = evt.item;
          const from = evt.from;
          const next = evt.from.children[evt.oldIndex] || null;
          moveContext = {
            kind: "board", card,
            revert: () => {
              if (card.isConnected) { from.insertBefore(card, next && next.parentElement === from ? next : from.querySelector(".load-more")); }
              card.classList.remove("is-moving"); recount();
            },
          };
          card.classList.add("is-moving");
          // Keep the card above the "load more" button of the target column.
          const more = evt.to.querySelector(".load-more");
          if (more && card.compareDocumentPosition(more) & Node.DOCUMENT_POSITION_PRECEDING) evt.to.insertBefore(card, more);
          recount();
          const body = new FormData();
          body.append("stage", evt.to.dataset.stageId);
          body.append("version", card.dataset.version);
          const result = await post(card.dataset.moveUrl, body);
          card.classList.remove("is-moving");
          handleMoveResult(result);
        },
      });
    });
  }
  onReady(() => initBoard(document));
  // The filters swap the whole board in: make the new columns sortable too (idempotent).
  document.addEventListener("htmx:afterSettle", () => initBoard(document));

  // --- the deal card's stage bar ---------------------------------------------------------------
  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!form.matches("[data-stage-move]")) return;
    e.preventDefault();
    form.querySelector("button")?.setAttribute("disabled", "");
    moveContext = { kind: "card" };
    const result = await post(form.action, new FormData(form));
    form.querySelector("button")?.removeAttribute("disabled");
    handleMoveResult(result);
  });

  // (settings: the stage order is part of the pipeline's settings form — web/settings.js)
})();

// Settings → new custom field: the choices box only for list types.
(function () {
  "use strict";
  function sync(select) {
    const box = select.form?.querySelector("[data-choices]");
    if (box) box.hidden = !["list", "multi"].includes(select.value);
  }
  document.addEventListener("change", (e) => { if (e.target.matches("[data-choices-toggle]")) sync(e.target); });
  const ready = () => document.querySelectorAll("[data-choices-toggle]").forEach(sync);
  if (document.readyState !== "loading") ready(); else document.addEventListener("DOMContentLoaded", ready);
})();

// --- navigation drawer (phones and narrow windows; CSS "mobile" block) -------------------------
// The menu button in the header slides the sidebar in. It closes on a tap outside (the backdrop),
// on Escape, on its own close button and when a link in it is chosen. While it is open the page
// behind is inert, focus moves into the drawer, and returns to the menu button when it closes.
(function () {
  "use strict";
  const narrow = window.matchMedia("(max-width: 900px)");
  const parts = () => ({
    button: document.querySelector("[data-drawer-toggle]"),
    drawer: document.getElementById("sidebar"),
    page: document.querySelector(".shell > .main"),
  });
  const isOpen = () => document.body.classList.contains("drawer-open");
  function setOpen(open, restoreFocus) {
    const { button, drawer, page } = parts();
    if (!button || !drawer) return;
    document.body.classList.toggle("drawer-open", open);
    button.setAttribute("aria-expanded", String(open));
    if (page) page.inert = open;
    if (open) {
      (drawer.querySelector(".nav-link.is-active") || drawer.querySelector(".nav-link, a, button"))?.focus({ preventScroll: true });
    } else if (restoreFocus) {
      button.focus({ preventScroll: true });
    }
  }
  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-drawer-toggle]")) { setOpen(!isOpen(), true); return; }
    if (!isOpen()) return;
    if (e.target.closest("[data-drawer-close]")) { e.preventDefault(); setOpen(false, true); return; }
    if (e.target.closest("#sidebar a[href]")) setOpen(false, false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && isOpen()) { e.preventDefault(); setOpen(false, true); }
  });
  // Back to a wide window (or a page restored from the back/forward cache): no drawer state left.
  narrow.addEventListener("change", () => { if (!narrow.matches && isOpen()) setOpen(false, false); });
  window.addEventListener("pageshow", () => { if (isOpen()) setOpen(false, false); });
})();

// --- the deal card's stage bar on a phone: its stages scroll sideways; show the current one -----
(function () {
  "use strict";
  function reveal() {
    const bar = document.querySelector(".stagebar-open");
    const current = bar?.querySelector(".stage-step.is-current");
    if (!bar || !current || bar.scrollWidth <= bar.clientWidth) return;
    const step = current.closest("form") || current;
    bar.scrollLeft = step.offsetLeft - bar.offsetLeft - (bar.clientWidth - step.offsetWidth) / 2;
  }
  if (document.readyState !== "loading") reveal(); else document.addEventListener("DOMContentLoaded", reveal);
})();

// --- copy buttons (recovery codes): <button data-copy-text="…" data-copied="label after"> ------
(function () {
  "use strict";
  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-copy-text]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.dataset.copyText).then(() => {
      if (button.dataset.copied) button.textContent = button.dataset.copied;
    });
  });
})();

// --- filter panels on a phone: folded behind a "Filters · n" button (the search stays open) -----
// Without JavaScript, and on wide screens, the panel is simply open.
(function () {
  "use strict";
  const narrow = window.matchMedia("(max-width: 640px)");
  function active(form) {
    let n = 0;
    form.querySelectorAll("select, input:not([type=hidden]):not([type=search])").forEach((el) => {
      if (el.closest(".filter-q")) return;
      if (el.type === "checkbox" || el.type === "radio") { if (el.checked) n += 1; } else if (el.value) n += 1;
    });
    return n;
  }
  function setup(form) {
    let button = form.querySelector(":scope > .filters-toggle");
    if (!button) {
      button = document.createElement("button");
      button.type = "button";
      button.className = "btn filters-toggle";
      button.setAttribute("aria-expanded", "true");
      if (form.id) button.setAttribute("aria-controls", form.id);
      const q = form.querySelector(":scope > .filter-q");
      form.insertBefore(button, q ? q.nextSibling : form.firstChild);
      button.addEventListener("click", () => show(form, form.classList.contains("is-collapsed")));
    }
    const n = active(form);
    button.textContent = form.dataset.filtersCollapse + (n ? ` · ${n}` : "");
    show(form, !narrow.matches);
  }
  function show(form, open) {
    form.classList.toggle("is-collapsed", !open);
    form.querySelector(":scope > .filters-toggle")?.setAttribute("aria-expanded", String(open));
  }
  const all = () => document.querySelectorAll("form[data-filters-collapse]").forEach(setup);
  if (document.readyState !== "loading") all(); else document.addEventListener("DOMContentLoaded", all);
  narrow.addEventListener("change", all);
})();

// The "Экспорт" menu of a list (transfer/export_button.html): the links take the list's current
// filters and sort from the address bar at the click (htmx pushes them there as they change),
// without the page cursor; the menu closes once the download starts.
(function () {
  "use strict";
  document.addEventListener("click", (event) => {
    const link = event.target.closest("[data-export] a[data-export-format]");
    if (!link) return;
    const params = new URLSearchParams(window.location.search);
    ["cursor", "format", "delimiter"].forEach((name) => params.delete(name));
    params.set("format", link.dataset.exportFormat);
    link.href = `${new URL(link.href, window.location.href).pathname}?${params.toString()}`;
    const menu = link.closest("details");
    if (menu) setTimeout(() => { menu.open = false; }, 0);
  });
})();

// Requisites auto-fill (contacts/_requisites_panel.html): «Подставить» writes what the registry
// returned into the company form — name, type, INN, KPP, OGRN, the legal address (the first
// address row, or a new one), the bank — and marks the changed fields; nothing is saved until
// the user presses «Сохранить».
(function () {
  "use strict";
  function setField(form, name, value) {
    const field = form.querySelector(`[name="${name}"]`);
    if (!field || value === undefined || value === null) return;
    field.value = value;
    field.dispatchEvent(new Event("change", { bubbles: true }));
    field.classList.add("is-filled");
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-requisites-fill]");
    if (!button) return;
    const form = button.closest("form");
    if (!form) return;
    let data;
    try { data = JSON.parse(button.dataset.requisitesFill); } catch (e) { return; }
    ["name", "type", "inn", "kpp", "ogrn", "bank_bik", "bank_name"].forEach((k) => setField(form, k, data[k]));
    const address = (data.addresses || [])[0];
    if (address) {
      const rows = form.querySelector("#addresses");
      let row = rows && Array.from(rows.querySelectorAll(".repeat-row")).find((r) => !r.querySelector("[name=address_text]").value.trim());
      if (!row && rows) {
        form.querySelector('[data-repeat-add="addresses"]')?.click();
        row = Array.from(rows.querySelectorAll(".repeat-row")).pop();
      }
      if (row) {
        row.querySelector("[name=address_kind]").value = address.kind || "legal";
        const text = row.querySelector("[name=address_text]");
        text.value = address.text;
        text.classList.add("is-filled");
      }
    }
    const panel = button.closest("#requisites-panel");
    if (panel) {
      const done = document.createElement("div");
      done.className = "alert alert--success";
      done.setAttribute("role", "status");
      done.textContent = panel.dataset.filled || "✓";
      panel.replaceChildren(done);
    }
  });
})();

// Import mapping (transfer): "create a custom field" shows the new field's name input.
(() => {
  document.addEventListener("change", (e) => {
    if (!e.target.matches("[data-import-target]")) return;
    const input = e.target.parentNode.querySelector("[data-new-field]");
    if (input) input.hidden = e.target.value !== "new_custom";
  });
})();

// Duplicate control (contacts/duplicates/*): an htmx form marked [data-swap-errors] shows the
// server's refusal (4xx: «Группа уже разобрана», not found) in place, as it shows a success.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", (e) => {
    const status = e.detail.xhr.status;
    if (status >= 400 && status < 500 && e.detail.elt?.closest?.("[data-swap-errors]")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
})();
