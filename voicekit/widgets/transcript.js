// voicekit Transcript: renders the synced `lines` trait, one row per speaker turn, newest last.
// Text goes in with textContent, never innerHTML.

function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "vk-transcript";
  el.appendChild(box);
  const draw = () => {
    const lines = model.get("lines") || [];
    const rows = [];
    let previous = null;
    const seen = new Set();
    for (const line of lines) {
      const conversation = line.conversation || "";
      if (previous !== null && conversation !== previous) {
        const divider = document.createElement("div");
        divider.className = "vk-divider";
        // the same words as voicekit.widgets.transcript.divider()
        divider.textContent = seen.has(conversation) ? "earlier conversation continues" : "new conversation";
        rows.push(divider);
      }
      previous = conversation;
      seen.add(conversation);
      rows.push(lineRow(line));
    }
    box.replaceChildren(...rows);
    if (!lines.length) box.textContent = "(nothing said yet)";
    // Lines arrive in order (the newest last): the box follows them.
    box.scrollTop = box.scrollHeight;
  };
  model.on("change:lines", draw);
  draw();
  return () => model.off("change:lines", draw);
}

function lineRow(line) {
  const row = document.createElement("div");
  row.className = `vk-line vk-${line.role}`;
  row.dataset.turn = String(line.turn);
  row.dataset.conversation = line.conversation || "";
  const who = document.createElement("span");
  who.className = "vk-who";
  who.textContent = line.role === "user" ? "You" : "Assistant";
  const text = document.createElement("span");
  text.className = "vk-text";
  text.textContent = line.text;
  row.append(who, text);
  return row;
}

export default { render };
