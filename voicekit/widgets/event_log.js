// voicekit EventLog: a table of Realtime events with a type filter.
//
// Messages from the kernel:
//   rows {rows: [{t, source, type, summary}]}   append
//   reset                                       forget every row
// Message to the kernel:
//   need                                        "send every row you hold" (on load)

function visible(row, text, hideDeltas) {
  if (hideDeltas && (row.type.endsWith(".delta") || row.type === "input_audio_buffer.append")) return false;
  return row.type.toLowerCase().includes(text.toLowerCase());
}

function render({ model, el }) {
  let rows = [];
  const root = document.createElement("div");
  root.className = "vk-eventlog";
  const bar = document.createElement("div");
  bar.className = "vk-eventlog-bar";
  const search = document.createElement("input");
  search.type = "search";
  search.placeholder = "filter by type, e.g. response.";
  search.value = model.get("filter");
  const hide = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = model.get("hide_deltas");
  hide.append(box, " hide deltas");
  const count = document.createElement("span");
  count.className = "vk-eventlog-count";
  bar.append(search, hide, count);
  const table = document.createElement("table");
  const body = document.createElement("tbody");
  table.appendChild(body);
  const scroller = document.createElement("div");
  scroller.className = "vk-eventlog-rows";
  scroller.appendChild(table);
  root.append(bar, scroller);
  el.appendChild(root);

  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    return td;
  };
  const draw = () => {
    const shown = rows.filter((r) => visible(r, model.get("filter"), model.get("hide_deltas")));
    body.replaceChildren(...shown.map((r) => {
      const tr = document.createElement("tr");
      tr.className = `vk-${r.source}`;
      tr.append(cell(r.t.toFixed(3), "vk-t"), cell(r.source === "client" ? "→" : "←", "vk-dir"),
        cell(r.type, "vk-type"), cell(r.summary, "vk-summary"));
      return tr;
    }));
    count.textContent = `${shown.length} of ${rows.length}`;
    scroller.scrollTop = scroller.scrollHeight;
  };
  search.addEventListener("input", () => { model.set("filter", search.value); model.save_changes(); });
  box.addEventListener("change", () => { model.set("hide_deltas", box.checked); model.save_changes(); });
  const onMsg = (msg) => {
    if (msg.type === "reset") rows = [];
    else if (msg.type === "rows") rows = rows.concat(msg.rows).slice(-model.get("max_rows"));
    draw();
  };
  const onTraits = () => {
    if (search.value !== model.get("filter")) search.value = model.get("filter");
    box.checked = model.get("hide_deltas");
    draw();
  };
  model.on("msg:custom", onMsg);
  model.on("change:filter change:hide_deltas", onTraits);
  model.send({ type: "need" });
  return () => {
    model.off("msg:custom", onMsg);
    model.off("change:filter change:hide_deltas", onTraits);
  };
}

export default { render };
