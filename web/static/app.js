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
    const suggestions = JSON.parse(rule.dataset.suggestions);
    rule.addEventListener("change", () => {
      const s = suggestions[rule.value];
      if (!s) return;
      document.querySelector("select[name=kind]").value = s.kind;
      document.querySelector("input[name=duration]").value = s.duration || "";
      const hint = document.getElementById("ladder-hint");
      if (hint) hint.textContent = `Suggested from the ladder: ${s.label} (${s.count} earlier under this rule)`;
    });
  }
  // Disable submit buttons once clicked: no accidental double submissions.
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", () => {
      for (const b of form.querySelectorAll("button")) setTimeout(() => (b.disabled = true), 0);
    });
  }
});
