/* Type-ahead boxes (ARIA combobox with a listbox; the options come from the server by htmx).
   One behaviour for two uses:
   - [data-combobox="navigate"] — the header search: the dropdown's options are links; Enter on
     a highlighted option opens it, Enter without one submits the form (the full results page).
   - [data-combobox="pick"] — a record picker in a form (the company of a deal or a contact; the
     deal's "find the client", whose contact brings its company along — [data-fills]):
     choosing an option writes its id into the hidden input [data-picker-value] (a "change" event
     follows, so htmx can refresh what depends on it) and its name into the text box. The option
     [data-create] opens the inline "new company" panel; its htmx answer carries
     [data-picked-id]/[data-picked-label] and is picked the same way.
   Keys: ↓/↑ move through the options (focus stays in the text box: aria-activedescendant),
   Enter chooses, Escape closes (a picker then shows the chosen record's name again), Tab leaves. */
(function () {
  "use strict";

  const rootOf = (el) => el?.closest?.("[data-combobox]");
  const inputOf = (root) => root.querySelector("[role=combobox]");
  const listOf = (root) => document.getElementById(inputOf(root)?.getAttribute("aria-controls") || "");
  const options = (root) => Array.from(listOf(root)?.querySelectorAll("[role=option]") || []);
  // The highlighted option is remembered by id on the root, not read back from its class: for
  // 20 ms after a swap htmx "settles" the new options and puts their class attribute back as
  // the server sent it, dropping an "is-active" set meanwhile (↑ then Enter lost the choice).
  const activeOption = (root) => {
    const id = root.dataset.activeId;
    return (id && options(root).find((o) => o.id === id)) || null;
  };

  function setOpen(root, open) {
    const input = inputOf(root);
    const list = listOf(root);
    if (!input || !list) return;
    const hasContent = list.textContent.trim() !== "";
    const show = open && hasContent;
    list.classList.toggle("is-open", show);
    input.setAttribute("aria-expanded", String(show));
    if (!show) setActive(root, null);
  }

  function setActive(root, option) {
    const input = inputOf(root);
    options(root).forEach((o) => {
      const on = o === option;
      o.classList.toggle("is-active", on);
      o.setAttribute("aria-selected", String(on));
    });
    root.dataset.activeId = option?.id || "";
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function move(root, step) {
    const all = options(root);
    if (!all.length) return;
    if (!listOf(root).classList.contains("is-open")) setOpen(root, true);
    const current = all.indexOf(activeOption(root));
    const next = current < 0 ? (step > 0 ? 0 : all.length - 1) : (current + step + all.length) % all.length;
    setActive(root, all[next]);
  }

  // --- pickers ---------------------------------------------------------------------------------
  function pick(root, id, label) {
    const hidden = root.querySelector("[data-picker-value]");
    const input = inputOf(root);
    input.value = label;
    input.dataset.label = label;
    root.classList.toggle("has-value", Boolean(id));
    setOpen(root, false);
    closeCreate(root, false);
    if (hidden && hidden.value !== String(id)) {
      hidden.value = id;
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function openCreate(root, name) {
    const panel = root.querySelector("[data-picker-create]");
    if (!panel) return;
    setOpen(root, false);
    panel.hidden = false;
    panel.querySelectorAll("input, select, button").forEach((el) => { el.disabled = false; });
    const field = panel.querySelector("input[type=text]");
    if (field) {
      if (name !== undefined && !field.value) field.value = name;
      field.focus();
    }
  }

  function closeCreate(root, refocus) {
    const panel = root.querySelector("[data-picker-create]");
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    // Disabled while closed: its fields are not sent with the surrounding form.
    panel.querySelectorAll("input, select").forEach((el) => { el.disabled = true; });
    if (refocus) inputOf(root)?.focus();
  }

  function choose(root, option) {
    if (!option) return false;
    if (root.dataset.combobox === "navigate") {
      const href = option.getAttribute("href");
      if (href) window.location.assign(href);
      return true;
    }
    if (option.hasAttribute("data-create")) {
      openCreate(root, option.dataset.create);
      return true;
    }
    pick(root, option.dataset.value, option.dataset.label);
    // A contact picker [data-fills="<company picker id>"]: the contact's company goes into that
    // picker (its hidden input's "change" asks for the company's contacts; the contact chosen
    // is sent along as client_contact, so it comes back ticked).
    const target = root.dataset.fills && document.getElementById(root.dataset.fills);
    if (target && option.dataset.company) {
      const hidden = target.querySelector("[data-picker-value]");
      if (hidden && hidden.value === option.dataset.company) {
        hidden.dispatchEvent(new Event("change", { bubbles: true }));  // same company: tick
      }
      pick(target, option.dataset.company, option.dataset.companyLabel || "");
    }
    return true;
  }

  document.addEventListener("keydown", (e) => {
    const target = e.target;
    const root = rootOf(target);
    if (!root) return;
    // Inside the "new company" panel: Enter creates, Escape goes back to the text box.
    const panel = target.closest("[data-picker-create]");
    if (panel) {
      if (e.key === "Enter" && target.tagName !== "BUTTON") {
        e.preventDefault();
        panel.querySelector("[data-picker-create-submit]")?.click();
      } else if (e.key === "Escape") {
        e.preventDefault();
        closeCreate(root, true);
      }
      return;
    }
    if (target !== inputOf(root)) return;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      move(root, e.key === "ArrowDown" ? 1 : -1);
    } else if (e.key === "Enter") {
      const active = activeOption(root);
      if (active) { e.preventDefault(); choose(root, active); }
      else if (root.dataset.combobox === "pick") e.preventDefault(); // never submits the form
    } else if (e.key === "Escape") {
      if (listOf(root)?.classList.contains("is-open")) {
        e.preventDefault();
        setOpen(root, false);
      } else if (root.dataset.combobox === "pick") {
        target.value = target.dataset.label || "";
      }
    } else if (e.key === "Tab") {
      setOpen(root, false);
    }
  });

  document.addEventListener("click", (e) => {
    document.querySelectorAll("[data-combobox]").forEach((root) => {
      if (!root.contains(e.target)) {
        setOpen(root, false);
        if (root.dataset.combobox === "pick") {
          const input = inputOf(root);
          if (input && document.activeElement !== input) input.value = input.dataset.label || "";
        }
      }
    });
    const root = rootOf(e.target);
    if (!root) return;
    const option = e.target.closest("[role=option]");
    if (option && root.dataset.combobox === "pick") { e.preventDefault(); choose(root, option); return; }
    if (e.target.closest("[data-picker-clear]")) { e.preventDefault(); pick(root, "", ""); inputOf(root).focus(); return; }
    if (e.target.closest("[data-picker-cancel]")) { e.preventDefault(); closeCreate(root, true); return; }
    if (e.target === inputOf(root) && listOf(root)?.textContent.trim()) setOpen(root, true);
  });
  document.addEventListener("mousemove", (e) => {
    const option = e.target.closest?.("[data-combobox] [role=option], .picker-list [role=option], .search-pop [role=option]");
    if (!option) return;
    const list = option.closest("[role=listbox]");
    const input = list && document.querySelector(`[aria-controls="${list.id}"]`);
    const root = rootOf(input);
    if (root && !option.classList.contains("is-active")) setActive(root, option);
  });

  // A typed text that was not picked is not a choice: a picker forgets it when focus leaves.
  document.addEventListener("focusout", (e) => {
    const root = rootOf(e.target);
    if (!root || root.dataset.combobox !== "pick" || e.target !== inputOf(root)) return;
    setTimeout(() => {
      if (!root.contains(document.activeElement)) {
        setOpen(root, false);
        e.target.value = e.target.dataset.label || "";
      }
    }, 150);
  });

  // The server's answers: open the list when it has options; pick what the panel created.
  document.addEventListener("htmx:afterSwap", (e) => {
    const target = e.detail.target;
    const input = target?.id && document.querySelector(`[aria-controls="${target.id}"]`);
    const listRoot = rootOf(input);
    if (listRoot) {
      // A late answer for the same text must not drop the option the user has already
      // highlighted with the arrows: keep it when the new list still has it.
      const kept = listRoot.dataset.activeId && document.getElementById(listRoot.dataset.activeId);
      setActive(listRoot, null);
      setOpen(listRoot, document.activeElement === input);
      if (kept && listOf(listRoot)?.contains(kept) && listOf(listRoot).classList.contains("is-open")) {
        setActive(listRoot, kept);
      }
      return;
    }
  });
  // Settled: the highlight the settling dropped is shown again.
  document.addEventListener("htmx:afterSettle", (e) => {
    const target = e.detail.target;
    const input = target?.id && document.querySelector(`[aria-controls="${target.id}"]`);
    const root = rootOf(input);
    const active = root && activeOption(root);
    if (active && !active.classList.contains("is-active")) setActive(root, active);
  });
  // The "new company" panel is swapped whole (outerHTML): look for its answer once it settled.
  let creating = false;
  document.addEventListener("htmx:beforeRequest", (e) => {
    if (e.detail.elt?.matches?.("[data-picker-create-submit]")) creating = true;
  });
  document.addEventListener("htmx:afterSettle", () => {
    if (!creating) return;
    creating = false;
    const created = document.querySelector("[data-combobox] [data-picked-id]");
    if (created) {
      const root = rootOf(created);
      pick(root, created.dataset.pickedId, created.dataset.pickedLabel);
      created.removeAttribute("data-picked-id");
      inputOf(root)?.focus();
      return;
    }
    document.querySelector("[data-combobox] [data-picker-create]:not([hidden]) [aria-invalid=true]")?.focus();
  });
  // A picker showing its chosen record asks for the recent records, not for that name.
  document.addEventListener("htmx:configRequest", (e) => {
    const input = e.detail.elt;
    const root = rootOf(input);
    if (root?.dataset.combobox === "pick" && input === inputOf(root) && input.value === (input.dataset.label || "")) {
      e.detail.parameters.q = "";
    }
  });
  // The "new company" panel shows the service's refusal (422) in place.
  document.addEventListener("htmx:beforeSwap", (e) => {
    if (e.detail.xhr.status === 422 && rootOf(e.detail.target)) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
})();
