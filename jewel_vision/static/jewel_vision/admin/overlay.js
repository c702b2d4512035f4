// Jewel Vision, product change form: switch the detected boxes and masks over the photos on and off.
document.addEventListener("change", (event) => {
  const toggle = event.target.closest("[data-jv-toggle]");
  if (!toggle) return;
  const panel = toggle.closest("[data-jv-photos]");
  panel.classList.toggle(`jv-hide-${toggle.dataset.jvToggle}`, !toggle.checked);
});
