/* The automation screens: show only the chosen action's (monitor's) fields and the fields a
   selector asks for; insert a placeholder where the cursor is; open the dry-run report in the
   modal with a spinner while it runs. Without JavaScript every section shows and the server
   reads only the chosen one. */
(() => {
  "use strict";
  const onReady = (fn) => (document.readyState !== "loading" ? fn() : document.addEventListener("DOMContentLoaded", fn));

  function setEnabled(box, on) {
    box.querySelectorAll("input, select, textarea").forEach((el) => { el.disabled = !on; });
  }

  function syncSections(form) {
    form.querySelectorAll("[data-section-select]").forEach((select) => {
      const kind = select.dataset.sectionSelect;
      form.querySelectorAll(`[data-section="${kind}"]`).forEach((box) => {
        const on = box.dataset.name === select.value;
        if (on) box.removeAttribute("data-unselected"); else box.setAttribute("data-unselected", "");
        setEnabled(box, on);
      });
    });
    syncShown(form);
  }

  function syncShown(form) {
    form.querySelectorAll("[data-shown-if]").forEach((el) => {
      const selector = form.querySelector(`[name="${CSS.escape(el.dataset.shownIf)}"]`);
      if (!selector) return;
      const section = el.closest("[data-section]");
      const sectionOn = !section || !section.hasAttribute("data-unselected");
      const on = (el.dataset.shownValues || "").split(" ").includes(selector.value);
      if (on) el.removeAttribute("data-hidden-by"); else el.setAttribute("data-hidden-by", selector.name);
      setEnabled(el, on && sectionOn);
    });
  }

  // A condition row: the value widget of the chosen field's kind (a select of people, stages…,
  // the company picker, text), the comparisons that fit it, several values for "one of".
  function syncCondition(row) {
    const field = row.querySelector("[data-cond-field]");
    const op = row.querySelector("[data-cond-op]");
    const kind = field.selectedOptions[0]?.dataset.kind || "text";
    row.querySelector("[data-cond-kind-input]").value = kind;
    let fits = null;
    Array.from(op.options).forEach((o) => {
      const ok = (o.dataset.kinds || "").split(" ").includes(kind);
      o.hidden = !ok;
      o.disabled = !ok;
      if (ok && !fits) fits = o;
    });
    if (op.selectedOptions[0]?.disabled && fits) op.value = fits.value;
    const valueless = op.value === "set" || op.value === "not_set";
    const box = row.querySelector("[data-cond-value]");
    if (valueless) box.setAttribute("data-valueless", ""); else box.removeAttribute("data-valueless");
    row.querySelectorAll("[data-cond-kind]").forEach((w) => {
      const on = w.dataset.condKind.split(" ").includes(kind) && (!w.dataset.condKey || w.dataset.condKey === field.value);
      if (on) w.removeAttribute("data-cond-off"); else w.setAttribute("data-cond-off", "");
      const select = w.querySelector("select");
      if (select) select.multiple = on && op.value === "in";
    });
  }

  function addCondition(box) {
    const tpl = box.querySelector("template");
    if (!tpl) return;
    const used = Array.from(box.querySelectorAll("[data-cond-row]")).map((r) => Number(r.dataset.index) || 0);
    const index = String(Math.max(-1, ...used) + 1);
    const holder = document.createElement("div");
    holder.innerHTML = tpl.innerHTML.replaceAll("__i__", index);
    const row = holder.firstElementChild;
    box.insertBefore(row, tpl);
    if (window.htmx) window.htmx.process(row);
    syncCondition(row);
    row.querySelector("[data-cond-field]")?.focus();
  }

  onReady(() => {
    document.documentElement.setAttribute("data-js", "");
    document.querySelectorAll("[data-rule-form]").forEach((form) => {
      syncSections(form);
      form.querySelectorAll("[data-cond-row]").forEach(syncCondition);
      form.addEventListener("click", (e) => {
        const add = e.target.closest("[data-cond-add]");
        if (!add) return;
        e.preventDefault();
        addCondition(document.getElementById(add.dataset.condAdd));
      });
      form.addEventListener("change", (e) => {
        const row = e.target.closest("[data-cond-row]");
        if (row && e.target.matches("[data-cond-field], [data-cond-op]")) { syncCondition(row); return; }
        if (e.target.matches("[data-section-select]")) syncSections(form);
        else if (e.target.matches("select")) syncShown(form);
      });
      // A click on a placeholder puts it into the text field it belongs to.
      let lastText = null;
      form.addEventListener("focusin", (e) => { if (e.target.matches("textarea, input[type=text], input:not([type])")) lastText = e.target; });
      form.addEventListener("click", (e) => {
        const chip = e.target.closest("[data-insert]");
        if (!chip) return;
        const field = chip.closest("label")?.querySelector("textarea, input") || lastText;
        if (!field) return;
        const at = field.selectionStart ?? field.value.length;
        field.value = field.value.slice(0, at) + chip.dataset.insert + field.value.slice(field.selectionEnd ?? at);
        field.focus();
        const pos = at + chip.dataset.insert.length;
        field.setSelectionRange?.(pos, pos);
      });
    });
  });

  // The dry run: open the modal at once with a spinner; htmx swaps the report in.
  document.addEventListener("htmx:beforeRequest", (e) => {
    const link = e.detail.elt;
    if (!link?.matches?.("[data-dry-run]")) return;
    link.closest("details")?.removeAttribute("open");
    const dlg = document.getElementById("modal");
    const tpl = document.getElementById("dry-run-loading");
    if (!dlg) return;
    document.getElementById("modal-body").innerHTML = tpl ? tpl.innerHTML : "";
    if (!dlg.open) dlg.showModal();
  });
  document.addEventListener("htmx:responseError", (e) => {
    if (!e.detail.elt?.matches?.("[data-dry-run]")) return;
    const body = document.getElementById("modal-body");
    if (body) body.innerHTML = `<div class="modal-inner"><div class="alert alert--error" role="alert">${e.detail.xhr.status}</div><button type="button" class="btn" data-modal-close>×</button></div>`;
  });
  // A robot moved up or down: the stage's robots come back in their new order; the focus
  // stays on the moved robot's button (or its other one, at the top or the bottom).
  let moving = null;
  document.addEventListener("htmx:beforeRequest", (e) => {
    const form = e.detail.elt?.closest?.(".robot-order form");
    if (form) moving = { rule: form.closest("[data-rule]")?.dataset.rule, step: form.querySelector("[data-step]")?.dataset.step };
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!moving) return;
    const card = document.getElementById(`rule-${moving.rule}`);
    const buttons = card ? Array.from(card.querySelectorAll(".robot-order button")) : [];
    const same = buttons.find((b) => b.dataset.step === moving.step && !b.disabled);
    (same || buttons.find((b) => !b.disabled))?.focus();
    moving = null;
  });
  // A menu closes when one clicks elsewhere.
  document.addEventListener("click", (e) => {
    document.querySelectorAll("details.rule-menu[open]").forEach((d) => { if (!d.contains(e.target)) d.removeAttribute("open"); });
  });
})();
