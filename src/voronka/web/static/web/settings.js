/* Pipeline settings: one form for every stage row (decision 0009).
   - Moving a stage (drag by ⠿, or ▲/▼) only reorders the rows here; "Save" stores the order
     with every other edit. Without JavaScript ▲/▼ submit the form (the server saves and moves).
   - Unsaved edits are announced next to the Save button, and leaving the page asks first.
   - ✕ asks before deleting; the deletion is saved together with the rest of the form. */
(function () {
  "use strict";
  const onReady = (fn) => (document.readyState !== "loading" ? fn() : document.addEventListener("DOMContentLoaded", fn));

  onReady(() => {
    const form = document.querySelector("[data-settings-form]");
    if (!form) return;
    const list = form.querySelector("[data-stage-list]");
    const note = form.querySelector("[data-dirty-note]");
    let dirty = false;
    let submitting = false;

    const markDirty = () => {
      dirty = true;
      if (note) note.hidden = false;
      form.classList.add("is-dirty");
    };
    const rows = () => Array.from(list.querySelectorAll(".stage-row[data-stage]"));
    const syncArrows = () => {
      const all = rows();
      all.forEach((row, i) => {
        const up = row.querySelector("[data-move=up]");
        const down = row.querySelector("[data-move=down]");
        if (up) up.disabled = i === 0;
        if (down) down.disabled = i === all.length - 1;
      });
    };

    form.addEventListener("input", markDirty);
    form.addEventListener("change", markDirty);
    form.addEventListener("submit", () => { submitting = true; });
    window.addEventListener("beforeunload", (e) => {
      if (dirty && !submitting) { e.preventDefault(); e.returnValue = ""; }
    });

    form.addEventListener("click", (e) => {
      const button = e.target.closest("button");
      if (!button) return;
      const ask = button.dataset.confirmClick;
      if (ask && !window.confirm(ask)) { e.preventDefault(); return; }
      const direction = button.dataset.move;
      if (!direction) return;
      e.preventDefault(); // reorder here; the order is saved with the form
      const row = button.closest(".stage-row");
      const sibling = direction === "up" ? row.previousElementSibling : row.nextElementSibling;
      if (!sibling || !sibling.matches(".stage-row[data-stage]")) return;
      if (direction === "up") list.insertBefore(row, sibling);
      else list.insertBefore(sibling, row);
      syncArrows();
      markDirty();
      (button.disabled ? row.querySelector("[data-move]:not([disabled])") : button)?.focus();
    });

    if (window.Sortable) {
      window.Sortable.create(list, {
        handle: ".grip", draggable: ".stage-row[data-stage]", animation: 150,
        onEnd: (evt) => { if (evt.oldIndex !== evt.newIndex) { syncArrows(); markDirty(); } },
      });
    }
  });
})();
