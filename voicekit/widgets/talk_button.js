// voicekit TalkButton: `pressed` is true while the pointer (or the space bar) holds it.

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "vk-button vk-talk";
  button.type = "button";
  el.appendChild(button);
  const draw = () => {
    button.textContent = model.get("pressed") ? "Listening… release to send" : model.get("label");
    button.classList.toggle("vk-pressed", model.get("pressed"));
    button.setAttribute("aria-pressed", String(model.get("pressed")));
  };
  const set = (down) => {
    if (model.get("pressed") === down) return;
    model.set("pressed", down);
    model.save_changes();
  };
  button.addEventListener("pointerdown", (e) => { button.setPointerCapture(e.pointerId); set(true); });
  button.addEventListener("pointerup", () => set(false));
  button.addEventListener("pointercancel", () => set(false));
  button.addEventListener("keydown", (e) => { if (e.key === " " && !e.repeat) { e.preventDefault(); set(true); } });
  button.addEventListener("keyup", (e) => { if (e.key === " ") { e.preventDefault(); set(false); } });
  button.addEventListener("blur", () => set(false));
  model.on("change:pressed change:label", draw);
  draw();
  return () => model.off("change:pressed change:label", draw);
}

export default { render };
