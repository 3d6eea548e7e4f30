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

  onReady(() => {
    document.documentElement.setAttribute("data-js", "");
    document.querySelectorAll("[data-rule-form]").forEach((form) => {
      syncSections(form);
      form.addEventListener("change", (e) => {
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
  // A menu closes when one clicks elsewhere.
  document.addEventListener("click", (e) => {
    document.querySelectorAll("details.rule-menu[open]").forEach((d) => { if (!d.contains(e.target)) d.removeAttribute("open"); });
  });
})();
