// voicekit TalkButton: `pressed` is true while the pointer (or the space bar) holds it.
// Under it, `hint` (what to do now) and `error` (why holding it does nothing), both set
// by the kernel; `disabled` greys it out.

function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "vk-button vk-talk";
  button.type = "button";
  const hint = document.createElement("div");
  hint.className = "vk-talk-hint";
  hint.setAttribute("aria-live", "polite");
  const error = document.createElement("div");
  error.className = "voicekit-error vk-talk-error";
  error.setAttribute("role", "alert");
  el.append(button, hint, error);
  const draw = () => {
    button.textContent = model.get("pressed") ? "Listening… release to send" : model.get("label");
    button.classList.toggle("vk-pressed", model.get("pressed"));
    button.setAttribute("aria-pressed", String(model.get("pressed")));
    button.disabled = model.get("disabled");
    hint.textContent = model.get("hint");
    hint.hidden = !model.get("hint");
    error.textContent = model.get("error");
    error.hidden = !model.get("error");
  };
  const set = (down) => {
    if (model.get("pressed") === down || (down && model.get("disabled"))) return;
    model.set("pressed", down);
    model.save_changes();
  };
  button.addEventListener("pointerdown", (e) => { button.setPointerCapture(e.pointerId); set(true); });
  button.addEventListener("pointerup", () => set(false));
  button.addEventListener("pointercancel", () => set(false));
  button.addEventListener("keydown", (e) => { if (e.key === " " && !e.repeat) { e.preventDefault(); set(true); } });
  button.addEventListener("keyup", (e) => { if (e.key === " ") { e.preventDefault(); set(false); } });
  button.addEventListener("blur", () => set(false));
  const names = "change:pressed change:label change:hint change:error change:disabled";
  model.on(names, draw);
  draw();
  return () => model.off(names, draw);
}

export default { render };
