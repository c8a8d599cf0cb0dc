// voicekit TranslationLines: the synced `rows` trait as a two-column table, source beside
// translation, newest last, then any errors. Text goes in with textContent, never innerHTML.

function cell(tag, text, className) {
  const el = document.createElement(tag);
  el.textContent = text;
  if (className) el.className = className;
  return el;
}

function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "vk-translation";
  el.appendChild(box);
  const draw = () => {
    const rows = model.get("rows") || [];
    const table = document.createElement("table");
    const head = document.createElement("tr");
    head.append(cell("th", model.get("source_label")), cell("th", model.get("translation_label")),
                cell("th", "lag"));
    table.appendChild(head);
    for (const row of rows) {
      const tr = document.createElement("tr");
      tr.dataset.index = String(row.index);
      const lag = row.lag_ms === null || row.lag_ms === undefined ? "" : `${(row.lag_ms / 1000).toFixed(1)} s`;
      tr.append(cell("td", row.source || "…", "vk-source"), cell("td", row.translation || "…", "vk-target"),
                cell("td", lag, "vk-lag"));
      table.appendChild(tr);
    }
    const errors = (model.get("errors") || []).map((e) => cell("div", e, "vk-error"));
    box.replaceChildren(table, ...errors);
    if (!rows.length && !errors.length) box.textContent = "(nothing translated yet)";
    box.scrollTop = box.scrollHeight;
  };
  for (const name of ["rows", "errors", "source_label", "translation_label"]) model.on(`change:${name}`, draw);
  draw();
  return () => {
    for (const name of ["rows", "errors", "source_label", "translation_label"]) model.off(`change:${name}`, draw);
  };
}

export default { render };
