// Progressive enhancement only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // "Go back" links without inline script (CSP forbids it).
  for (const a of document.querySelectorAll("a[data-back]")) {
    a.addEventListener("click", (e) => { e.preventDefault(); history.back(); });
  }
  // Ask before irreversible actions.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => { if (!confirm(form.dataset.confirm)) e.preventDefault(); });
  }
  // Prefill the duration from the ladder when a rule is picked on the action form.
  const rule = document.querySelector("select[name=rule][data-suggestions]");
  if (rule) {
    let suggestions = JSON.parse(rule.dataset.suggestions);
    // Filing by Discord id: count the earlier cases of a member we already know.
    const uid = document.querySelector("input[name=platform_user_id]");
    if (uid && rule.dataset.suggestionsUrl) {
      uid.addEventListener("change", async () => {
        const r = await fetch(`${rule.dataset.suggestionsUrl}?platform_user_id=${encodeURIComponent(uid.value)}`);
        if (r.ok) { suggestions = await r.json(); rule.dispatchEvent(new Event("change")); }
      });
    }
    rule.addEventListener("change", () => {
      const s = suggestions[rule.value];
      if (!s) return;
      document.querySelector("select[name=kind]").value = s.kind;
      document.querySelector("input[name=duration]").value = s.duration || "";
      const hint = document.getElementById("ladder-hint");
      if (hint) hint.textContent = `Suggested from the ladder: ${s.label} (${s.why}; ${s.count} earlier under this rule)`;
    });
  }
  // Disable submit buttons once clicked: no accidental double submissions.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      for (const b of form.querySelectorAll("button")) setTimeout(() => (b.disabled = true), 0);
    });
  }
});
