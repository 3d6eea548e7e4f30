/* Voronka UI glue: CSRF for htmx and fetch, auto-submitting selects, the kanban drag & drop
   with the required-fields modal, repeatable input rows, live counters in the navigation. */
(function () {
  "use strict";
  const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
  const nf = new Intl.NumberFormat(document.documentElement.lang === "en" ? "en-US" : "ru-RU", { maximumFractionDigits: 0 });

  document.addEventListener("htmx:configRequest", (e) => { e.detail.headers["X-CSRFToken"] = csrf(); });

  function onReady(fn) { if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn); }

  // Selects with data-autosubmit submit their form on change.
  document.addEventListener("change", (e) => {
    if (e.target.matches("[data-autosubmit]")) e.target.form.submit();
  });

  // Repeatable rows (phones, e-mails, addresses): <div data-repeat> with a <template>.
  document.addEventListener("click", (e) => {
    const add = e.target.closest("[data-repeat-add]");
    if (add) {
      const box = document.getElementById(add.dataset.repeatAdd);
      const tpl = box.querySelector("template");
      box.insertBefore(tpl.content.cloneNode(true), tpl);
      e.preventDefault();
    }
    const remove = e.target.closest("[data-repeat-remove]");
    if (remove) { remove.closest(".repeat-row").remove(); e.preventDefault(); }
    const close = e.target.closest("[data-modal-close]");
    if (close) { e.preventDefault(); closeModal(true); }
  });

  // --- live counters: the nav polls /counters/ and we move each badge into its slot -------
  document.addEventListener("htmx:afterSwap", (e) => {
    if (e.target.id !== "counters-slot") return;
    e.target.querySelectorAll("template[data-badge]").forEach((tpl) => {
      document.querySelectorAll(`[data-badge-slot="${tpl.dataset.badge}"]`).forEach((slot) => {
        slot.innerHTML = tpl.innerHTML;
      });
    });
  });

  // --- modal ------------------------------------------------------------------------------
  let pendingRevert = null;
  function openModal(html) {
    const dlg = document.getElementById("modal");
    document.getElementById("modal-body").innerHTML = html;
    if (!dlg.open) dlg.showModal();
    const first = dlg.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }
  function closeModal(revert) {
    const dlg = document.getElementById("modal");
    if (dlg && dlg.open) dlg.close();
    if (revert && pendingRevert) pendingRevert();
    pendingRevert = null;
  }
  document.addEventListener("cancel", (e) => { if (e.target.id === "modal") { e.preventDefault(); closeModal(true); } }, true);

  async function postForm(url, body) {
    const resp = await fetch(url, {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "HX-Request": "true", "Accept": "text/html" },
    });
    return { status: resp.status, text: await resp.text(), redirect: resp.headers.get("HX-Redirect") };
  }

  // Forms inside the modal post with fetch and keep the modal until the move succeeds.
  document.addEventListener("submit", async (e) => {
    const form = e.target;
    if (!form.closest("#modal") || !form.matches("[data-move-form]")) return;
    e.preventDefault();
    const result = await postForm(form.action, new FormData(form));
    handleMoveResult(result, form.dataset.dealId);
  });

  function toast(text, kind) {
    const box = document.querySelector(".messages") || (() => {
      const m = document.createElement("div"); m.className = "messages";
      document.querySelector(".main")?.insertBefore(m, document.querySelector(".content"));
      return m;
    })();
    const div = document.createElement("div");
    div.className = `alert alert--${kind || "error"}`; div.setAttribute("role", "alert");
    div.textContent = text; box.appendChild(div);
    setTimeout(() => div.remove(), 8000);
  }

  function handleMoveResult(result, dealId) {
    if (result.status === 200) {
      const card = document.querySelector(`.deal-card[data-deal-id="${dealId}"]`);
      if (card) {
        const tmp = document.createElement("div"); tmp.innerHTML = result.text.trim();
        const fresh = tmp.firstElementChild;
        if (fresh) card.replaceWith(fresh);
      }
      pendingRevert = null; closeModal(false); recount();
      return;
    }
    if (result.status === 422 && result.text.includes("data-move-form")) { openModal(result.text); return; }
    closeModal(true);
    const tmp = document.createElement("div"); tmp.innerHTML = result.text;
    toast(tmp.querySelector("[data-message]")?.textContent?.trim() || tmp.textContent.trim().slice(0, 300));
    if (result.status === 409) setTimeout(() => window.location.reload(), 2500);
  }

  function recount() {
    document.querySelectorAll(".column").forEach((col) => {
      const cards = col.querySelectorAll(".deal-card");
      const hidden = parseInt(col.dataset.hidden || "0", 10);
      let sum = parseFloat(col.dataset.hiddenSum || "0");
      cards.forEach((c) => { sum += parseFloat(c.dataset.amount || "0"); });
      const count = col.querySelector("[data-count]"); if (count) count.textContent = cards.length + hidden;
      const total = col.querySelector("[data-sum]"); if (total) total.textContent = nf.format(sum) + " ₽";
    });
  }

  // --- kanban -------------------------------------------------------------------------------
  onReady(() => {
    if (!window.Sortable) return;
    document.querySelectorAll(".column-body[data-stage-id]").forEach((body) => {
      window.Sortable.create(body, {
        group: "board", animation: 150, draggable: ".deal-card", filter: ".load-more",
        onEnd: async (evt) => {
          if (evt.from === evt.to) return;
          const card = evt.item;
          const from = evt.from, oldIndex = evt.oldIndex;
          pendingRevert = () => {
            const ref = from.querySelectorAll(".deal-card")[oldIndex] || null;
            from.insertBefore(card, ref); card.classList.remove("is-moving"); recount();
          };
          card.classList.add("is-moving"); recount();
          const body = new FormData();
          body.append("stage", evt.to.dataset.stageId);
          body.append("version", card.dataset.version);
          const result = await postForm(card.dataset.moveUrl, body);
          handleMoveResult(result, card.dataset.dealId);
        },
      });
    });
  });
})();
