// voicekit Transcript: renders the synced `lines` trait, one row per speaker turn.
// Text goes in with textContent, never innerHTML.

function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "vk-transcript";
  el.appendChild(box);
  const draw = () => {
    const lines = model.get("lines") || [];
    box.replaceChildren(...lines.map((line) => {
      const row = document.createElement("div");
      row.className = `vk-line vk-${line.role}`;
      row.dataset.turn = String(line.turn);
      const who = document.createElement("span");
      who.className = "vk-who";
      who.textContent = line.role === "user" ? "You" : "Assistant";
      const text = document.createElement("span");
      text.className = "vk-text";
      text.textContent = line.text;
      row.append(who, text);
      return row;
    }));
    if (!lines.length) box.textContent = "(nothing said yet)";
    box.scrollTop = box.scrollHeight;
  };
  model.on("change:lines", draw);
  draw();
  return () => model.off("change:lines", draw);
}

export default { render };
