/* The task calendar (activities/calendar.html): drag a task to another slot to reschedule it.
   No inline scripts (CSP); SortableJS comes from base.html (deferred before this file).

   Drop → GET <task>/move/?deadline=<day>T<hh:mm> answers the reschedule form (new date and
   time, editable; the reason, required) shown in <dialog id="cal-modal">. Submit → POST the
   same address: 200 = the task's fresh block (placed in its slot), 422 = the form with its
   errors (stays open), 404/409 = a message (the block goes back; on a version conflict the
   page reloads to show the current state). Cancel, Esc or the backdrop put the block back —
   every close that did not commit a move reverts it (one place: the dialog's "close"). */
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const pad = (n) => String(n).padStart(2, "0");
  const texts = () => document.getElementById("cal-texts")?.dataset || {};
  let move = null; // {item, from, next, committed}

  function toast(text, kind) {
    let stack = document.querySelector(".toast-stack");
    if (!stack) { stack = document.createElement("div"); stack.className = "toast-stack"; document.body.appendChild(stack); }
    const div = document.createElement("div");
    div.className = `alert alert--${kind || "error"}`;
    div.setAttribute("role", kind === "success" ? "status" : "alert");
    div.textContent = text;
    stack.appendChild(div);
    setTimeout(() => div.remove(), 6000);
  }

  async function request(url, options) {
    try {
      const resp = await fetch(url, {
        credentials: "same-origin",
        ...options,
        headers: { "X-CSRFToken": csrf(), "HX-Request": "true", Accept: "text/html" },
      });
      return { status: resp.status, text: await resp.text() };
    } catch (err) {
      return { status: 0, text: "" };
    }
  }
  const parse = (html) => { const t = document.createElement("template"); t.innerHTML = html.trim(); return t.content; };

  // The deadline a drop means: the slot's day and hour, the task's minutes. Dropped into the
  // "before 8" / "after 21" band it already belongs to (another day), it keeps its hour.
  function targetDeadline(item, slot) {
    const [hour, minute] = (item.dataset.time || "10:00").split(":");
    const band = !/^\d+$/.test(slot.dataset.slot);
    const h = band && slot.dataset.slot === item.dataset.slot ? hour : pad(slot.dataset.hour);
    return `${slot.dataset.day}T${h}:${minute}`;
  }

  function revert() {
    if (!move) return;
    const { item, from, next } = move;
    item.classList.remove("is-moving");
    if (next && next.parentElement === from) from.insertBefore(item, next); else from.appendChild(item);
    recount();
    move = null;
  }

  function modal() { return document.getElementById("cal-modal"); }
  function openModal(html) {
    const dlg = modal();
    document.getElementById("cal-modal-body").innerHTML = html;
    if (!dlg.open) dlg.showModal();
    const reason = dlg.querySelector("textarea[name=reason]");
    (reason || dlg.querySelector("input:not([type=hidden])"))?.focus();
  }
  function closeModal() { const dlg = modal(); if (dlg?.open) dlg.close(); }

  async function onDrop(evt) {
    document.querySelectorAll(".cal-slot.is-target").forEach((s) => s.classList.remove("is-target"));
    if (evt.from === evt.to || !move) { move = null; return; }
    const item = evt.item;
    item.classList.add("is-moving");
    recount();
    const url = `${item.dataset.moveUrl}?deadline=${encodeURIComponent(targetDeadline(item, evt.to))}`;
    const result = await request(url, { method: "GET" });
    if (result.status === 200 && result.text.includes("data-cal-move-form")) {
      openModal(result.text);
      return;
    }
    refused(result);
  }

  function refused(result) {
    const message = parse(result.text || "").querySelector("[data-message]")?.textContent?.trim()
      || (result.status ? `HTTP ${result.status}` : texts().offline || "Offline");
    closeModal();
    revert();
    toast(message, result.status === 409 ? "warning" : "error");
    if (result.status === 409) setTimeout(() => window.location.reload(), 1800);
  }

  function place(fresh) {
    const { item } = move;
    move.committed = true;
    item.remove();
    const slot = document.querySelector(`.cal-slot[data-day="${fresh.dataset.day}"][data-slot="${fresh.dataset.slot}"]`);
    if (!slot) { toast(texts().movedAway || "Moved", "success"); recount(); return; }
    const later = [...slot.querySelectorAll(".cal-event")].find((e) => (e.dataset.time || "") > (fresh.dataset.time || ""));
    slot.insertBefore(fresh, later || null);
    fresh.classList.add("is-flash");
    setTimeout(() => fresh.classList.remove("is-flash"), 1300);
    recount();
    toast(texts().moved || "OK", "success");
  }

  // The day headers' counters follow the blocks.
  function recount() {
    document.querySelectorAll(".cal-dayhead[data-day]").forEach((head) => {
      const blocks = document.querySelectorAll(`.cal-slot[data-day="${head.dataset.day}"] .cal-event`);
      const count = head.querySelector(".cal-count");
      if (count) count.textContent = blocks.length ? String(blocks.length) : "";
    });
  }

  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!form.matches("#cal-modal [data-cal-move-form]")) return;
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    const result = await request(form.action, { method: "POST", body: new FormData(form) });
    if (button) button.disabled = false;
    if (result.status === 200) {
      const fresh = parse(result.text).querySelector(".cal-event");
      if (fresh && move) { place(fresh); closeModal(); return; }
      window.location.reload();
      return;
    }
    if (result.status === 422 && result.text.includes("data-cal-move-form")) { openModal(result.text); return; }
    refused(result);
  });

  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-cal-cancel]")) { e.preventDefault(); closeModal(); return; }
    const dlg = modal();
    if (dlg && e.target === dlg) closeModal(); // a click on the backdrop
  });

  function init() {
    const root = document.querySelector("[data-calendar]");
    const dlg = modal();
    if (dlg) dlg.addEventListener("close", () => { if (move && !move.committed) revert(); move = null; });
    if (!root || !window.Sortable) return;
    root.querySelectorAll(".cal-slot").forEach((slot) => {
      window.Sortable.create(slot, {
        group: "calendar",
        sort: false,
        draggable: ".cal-event.is-movable",
        animation: 120,
        ghostClass: "cal-ghost",
        delay: 180,
        delayOnTouchOnly: true,
        emptyInsertThreshold: 0,
        onStart: (evt) => { move = { item: evt.item, from: evt.from, next: evt.item.nextElementSibling, committed: false }; },
        onMove: (evt) => {
          document.querySelectorAll(".cal-slot.is-target").forEach((s) => { if (s !== evt.to) s.classList.remove("is-target"); });
          if (evt.to !== move?.from) evt.to.classList.add("is-target");
          return true;
        },
        onEnd: onDrop,
      });
    });
  }
  if (document.readyState !== "loading") init(); else document.addEventListener("DOMContentLoaded", init);
})();
